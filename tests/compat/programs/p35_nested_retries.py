"""An inner retry that gives up hands the failure to the outer one, which retries everything."""

from taskflow import engines, retry, task
from taskflow.listeners import capturing
from taskflow.patterns import linear_flow


class Step(task.Task):
    def execute(self):
        print("execute", self.name)

    def revert(self, **kwargs):
        print("revert", self.name)


class FailTwice(task.Task):
    calls = 0

    def execute(self):
        FailTwice.calls += 1
        print("fail-twice call", FailTwice.calls)
        if FailTwice.calls <= 2:
            raise RuntimeError(f"call {FailTwice.calls}")


inner = linear_flow.Flow("inner", retry=retry.Times(1, name="inner-r")).add(
    Step(name="inner-step"), FailTwice(name="fail-twice")
)
outer = linear_flow.Flow("outer", retry=retry.Times(3, name="outer-r")).add(
    Step(name="outer-step"), inner
)
engine = engines.load(outer)
with capturing.CaptureListener(engine, capture_flow=False) as capture:
    engine.run()
for kind, state, details in capture.values:
    print(kind, state, details.get("task_name") or details.get("retry_name"), details["old_state"])

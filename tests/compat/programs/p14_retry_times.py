"""retry.Times: the flow is reverted and run again until it succeeds or attempts run out."""

from taskflow import engines, retry, task
from taskflow.patterns import linear_flow


class Prepare(task.Task):
    def execute(self):
        print("prepare")

    def revert(self, **kwargs):
        print("unprepare")


class Flaky(task.Task):
    def __init__(self, fails, **kwargs):
        super().__init__(**kwargs)
        self.fails = fails
        self.calls = 0

    def execute(self):
        self.calls += 1
        print("attempt", self.calls)
        if self.calls <= self.fails:
            raise OSError(f"try {self.calls}")
        return self.calls


flow = linear_flow.Flow("retrying", retry=retry.Times(3, name="times")).add(
    Prepare(name="prepare"), Flaky(2, name="flaky", provides="calls")
)
engine = engines.load(flow)
engine.run()
print(engine.storage.fetch("calls"))
print(engine.storage.get("times"))

flow = linear_flow.Flow("giving-up", retry=retry.Times(2, name="times")).add(
    Prepare(name="prepare"), Flaky(5, name="flaky")
)
try:
    engines.run(flow)
except OSError as exc:
    print("gave up:", exc)

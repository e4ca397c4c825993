"""CaptureListener records flow, task and retry transitions."""

from taskflow import engines, retry, task
from taskflow.listeners import capturing
from taskflow.patterns import linear_flow


class Flaky(task.Task):
    calls = 0

    def execute(self):
        Flaky.calls += 1
        if Flaky.calls < 2:
            raise ValueError("not yet")
        return "done"


flow = linear_flow.Flow("cap", retry=retry.Times(3, name="r")).add(Flaky(name="flaky"))
engine = engines.load(flow)
with capturing.CaptureListener(engine, capture_flow=True, capture_task=True) as capturer:
    engine.run()
for value in capturer.values:
    print(value)

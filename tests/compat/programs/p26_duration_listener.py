"""DurationListener records elapsed time in atom meta; PrintingDurationListener prints it."""

from taskflow import engines, task
from taskflow.listeners import timing
from taskflow.patterns import linear_flow


class Ok(task.Task):
    def execute(self):
        return 1


engine = engines.load(linear_flow.Flow("timed").add(Ok(name="ok")))
with timing.DurationListener(engine):
    engine.run()
print(engine.storage.get("ok"))

engine = engines.load(linear_flow.Flow("printed").add(Ok(name="ok")))
with timing.PrintingDurationListener(engine):
    engine.run()

"""update_progress reaches the task's own notifier as EVENT_UPDATE_PROGRESS."""

from taskflow import engines, task
from taskflow.patterns import linear_flow


class Slow(task.Task):
    def execute(self):
        for step in (0.25, 0.5, 1.0):
            self.update_progress(step)


def on_progress(event_type, details):
    print(event_type, details["progress"])


slow = Slow(name="slow")
slow.notifier.register(task.EVENT_UPDATE_PROGRESS, on_progress)
engine = engines.load(linear_flow.Flow("progress").add(slow))
engine.run()

"""A base.Listener subclass overriding the flow and task callbacks."""

from taskflow import engines, task
from taskflow.listeners import base
from taskflow.patterns import linear_flow


class Recorder(base.Listener):
    def _flow_receiver(self, state, details):
        print("flow moved to", state)

    def _task_receiver(self, state, details):
        print("task", details["task_name"], "moved to", state)


class Ok(task.Task):
    def execute(self):
        return 1


engine = engines.load(linear_flow.Flow("listened").add(Ok(name="a"), Ok(name="b")))
with Recorder(engine):
    engine.run()

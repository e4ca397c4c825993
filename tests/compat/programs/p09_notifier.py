"""engine.notifier and engine.atom_notifier callbacks, in order."""

from taskflow import engines, task
from taskflow.patterns import linear_flow
from taskflow.types import notifier


class Work(task.Task):
    def execute(self):
        return 42


def on_flow(state, details):
    print("flow", state, sorted(details), details["flow_name"])


def on_atom(state, details):
    print("atom", state, details.get("task_name"), details.get("result"))


flow = linear_flow.Flow("notify").add(Work(name="w1"), Work(name="w2"))
engine = engines.load(flow)
engine.notifier.register(notifier.Notifier.ANY, on_flow)
engine.atom_notifier.register(notifier.Notifier.ANY, on_atom)
engine.run()

"""storage.inject after prepare() and after a run; reset() and a second run with a listener."""

from taskflow import engines, task
from taskflow.patterns import linear_flow


class Add(task.Task):
    def execute(self, a, b):
        return a + b


def told(state, details):
    print("flow", state, details["old_state"])


def atom_told(state, details):
    print("atom", details["task_name"], state, details["old_state"])


engine = engines.load(linear_flow.Flow("late").add(Add(name="add", provides="sum")), store={"a": 1})
engine.compile()
engine.prepare()
engine.storage.inject({"b": 2})
engine.run()
print(engine.storage.fetch("sum"), sorted(engine.storage.fetch_all().items()))
engine.storage.inject({"b": 40})
print(engine.storage.fetch("b"))
engine.notifier.register("*", told)
engine.atom_notifier.register("*", atom_told)
engine.reset()
engine.run()
print(engine.storage.fetch("sum"))

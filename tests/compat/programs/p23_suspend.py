"""suspend() from a notification; run() again finishes the flow."""

from taskflow import engines, states, task
from taskflow.patterns import linear_flow


class Step(task.Task):
    def execute(self):
        print("execute", self.name)


flow = linear_flow.Flow("pausable").add(Step(name="one"), Step(name="two"), Step(name="three"))
engine = engines.load(flow)


def pause_after_one(state, details):
    if details["task_name"] == "one" and state == states.SUCCESS:
        engine.suspend()


engine.atom_notifier.register("*", pause_after_one)
engine.run()
print(engine.storage.get_flow_state())
for name in ("one", "two", "three"):
    print(name, engine.storage.get_atom_state(name))
engine.atom_notifier.deregister("*", pause_after_one)
engine.run()
print(engine.storage.get_flow_state())

"""The serial engine starts every ready atom in one round, then runs them one by one."""

from taskflow import engines, task
from taskflow.patterns import linear_flow, unordered_flow


class Ok(task.Task):
    def execute(self):
        print("execute", self.name)


told = []


def show(state, details):
    told.append(f"{details['task_name']} {state}")


flow = linear_flow.Flow("rounds").add(
    Ok(name="first"), unordered_flow.Flow("together").add(Ok(name="only")), Ok(name="last")
)
engine = engines.load(flow)
engine.atom_notifier.register("*", show)
for state in engine.run_iter():
    print(state)
# Printed apart from the phases: when in a round a result is told differs (see the docs).
print(told)


class Quiet(task.Task):
    def execute(self):
        pass


# TaskFlow runs the atoms of one round in an order that changes from run to run.
flow = unordered_flow.Flow("wide").add(Quiet(name="a"), Quiet(name="b"), Quiet(name="c"))
engine = engines.load(flow)
states = list(engine.run_iter())
print(states)

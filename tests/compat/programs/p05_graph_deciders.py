"""Graph links with deciders: a false decider skips (IGNOREs) what follows."""

from taskflow import engines, task
from taskflow.patterns import graph_flow, linear_flow


class Check(task.Task):
    def execute(self):
        return False


class Act(task.Task):
    def execute(self):
        print("acting", self.name)


check = Check(name="check", provides="ok")
act = Act(name="act")
other = Act(name="other")
inner = linear_flow.Flow("inner").add(Act(name="in1"), Act(name="in2"))
flow = graph_flow.Flow("deciders").add(check, act, other, inner)
flow.link(check, act, decider=lambda history: history["check"])
flow.link(check, other, decider=lambda history: not history["check"])
flow.link(check, inner, decider=lambda history: False, decider_depth="flow")
engine = engines.load(flow)
engine.run()
for name in ("check", "act", "other", "in1", "in2"):
    print(name, engine.storage.get_atom_state(name))

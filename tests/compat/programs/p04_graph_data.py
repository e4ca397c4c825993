"""A graph flow ordered by data alone, with a target."""

from taskflow import engines, task
from taskflow.patterns import graph_flow


class Step(task.Task):
    def execute(self, **kwargs):
        print("run", self.name, sorted(kwargs.items()))
        return self.name.upper()


c = Step(name="c", requires=["a_out", "b_out"], provides="c_out")
b = Step(name="b", requires=["a_out"], provides="b_out")
a = Step(name="a", provides="a_out")
d = Step(name="d", requires=["c_out"], provides="d_out")
flow = graph_flow.Flow("g").add(c, b, a, d)
print(engines.run(flow))

flow2 = graph_flow.TargetedFlow("t")
target = Step(name="b", requires=["a_out"], provides="b_out")
flow2.add(
    Step(name="a", provides="a_out"), target, Step(name="x", requires=["a_out"], provides="x_out")
)
flow2.set_target(target)
print(engines.run(flow2))

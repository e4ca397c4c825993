"""Nested flows, iteration over children, and the same name shadowed in a nested scope."""

from taskflow import engines, flow, task
from taskflow.patterns import graph_flow, linear_flow


class Give(task.Task):
    def execute(self, value):
        return value


class Show(task.Task):
    def execute(self, x):
        print(self.name, "sees", x)


outer = linear_flow.Flow("outer")
outer.add(Give(name="give-outer", provides="x", inject={"value": "outer"}))
inner = linear_flow.Flow("inner")
inner.add(Give(name="give-inner", provides="x", inject={"value": "inner"}), Show(name="show-inner"))
outer.add(inner, Show(name="show-outer"))
side = linear_flow.Flow("side").add(Show(name="side-a"), Show(name="side-b"))
outer.add(graph_flow.Flow("g").add(side))
for child in outer:
    print(type(child).__name__, child.name)
engine = engines.load(outer)
engine.run()
print(engine.storage.fetch("x"))
print(sorted(engine.storage.fetch_all().items()))
print(all(isinstance(child, flow.Flow) for child in (outer, inner, side)))

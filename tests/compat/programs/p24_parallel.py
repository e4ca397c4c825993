"""The parallel engine with max_workers and with a caller-owned executor."""

from concurrent import futures

from taskflow import engines, task
from taskflow.patterns import graph_flow, unordered_flow


class Square(task.Task):
    def execute(self, n):
        return n * n


class Total(task.Task):
    def execute(self, *args, **kwargs):
        return sum(kwargs.values())


flow = unordered_flow.Flow("squares")
for i in range(6):
    flow.add(Square(name=f"sq{i}", provides=f"s{i}", inject={"n": i}))
print(sorted(engines.run(flow, engine="parallel", max_workers=3).items()))

with futures.ThreadPoolExecutor(2) as pool:
    g = graph_flow.Flow("sum").add(
        Square(name="a", provides="a", inject={"n": 3}),
        Square(name="b", provides="b", inject={"n": 4}),
        Total(name="total", requires=["a", "b"], provides="total"),
    )
    engine = engines.load(g, engine="parallel", executor=pool)
    engine.run()
    print(engine.storage.fetch("total"))

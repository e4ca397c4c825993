"""A graph flow with a retry on the parallel engine; results are the same as serial."""

from taskflow import engines, retry, task
from taskflow.patterns import graph_flow


class Source(task.Task):
    def execute(self, base):
        return base


class Flaky(task.Task):
    attempts = 0

    def execute(self, value):
        Flaky.attempts += 1
        if Flaky.attempts == 1:
            raise TimeoutError("slow backend")
        return value * 10


class Join(task.Task):
    def execute(self, left, right):
        return left + right


flow = graph_flow.Flow("graph", retry=retry.Times(2, name="again")).add(
    Source(name="source", provides="value", inject={"base": 4}),
    Flaky(name="left", provides="left"),
    Source(name="right", provides="right", inject={"base": 1}),
    Join(name="join", provides="total"),
)
result = engines.run(flow, engine="parallel", max_workers=2)
print(result["total"], Flaky.attempts)

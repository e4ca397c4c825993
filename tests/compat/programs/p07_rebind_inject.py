"""rebind by list and dict, inject, requires with **kwargs, provides as a tuple."""

from taskflow import engines, task
from taskflow.patterns import linear_flow


class Pair(task.Task):
    def execute(self):
        return (1, 2)


class Mapping(task.Task):
    def execute(self):
        return {"k1": "v1", "k2": "v2"}


class Sum(task.Task):
    def execute(self, a, b):
        return a + b


class Everything(task.Task):
    def execute(self, **kwargs):
        return sorted(kwargs.items())


flow = linear_flow.Flow("rebind").add(
    Pair(provides=("one", "two")),
    Mapping(provides="first"),
    Sum(name="sum-list", rebind=["one", "two"], provides="s1"),
    Sum(name="sum-dict", rebind={"a": "two", "b": "two"}, provides="s2"),
    Sum(name="sum-inject", inject={"a": 10}, rebind={"b": "one"}, provides="s3"),
    Everything(requires=["first", "s1"], provides="all"),
)
result = engines.run(flow)
for key in sorted(result):
    print(key, result[key])

"""FunctorTask: names from the function, provides, revert, inject."""

from taskflow import engines, task
from taskflow.patterns import linear_flow


def add(x, y):
    return x + y


def undo_add(x, y, **kwargs):
    print("undo add", x, y, kwargs["result"])


def multiply(total, factor):
    return total * factor


t1 = task.FunctorTask(add, provides="total", revert=undo_add)
t2 = task.FunctorTask(multiply, name="mul", provides="product", inject={"factor": 3})
print(t1.name, t2.name)
print(sorted(t1.requires), sorted(t1.provides))
print(sorted(t2.requires), sorted(t2.provides))
flow = linear_flow.Flow("math").add(t1, t2)
print(engines.run(flow, store={"x": 2, "y": 5}))

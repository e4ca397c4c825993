"""A FunctorTask reports progress 0.0 and 1.0 around its function, like any task."""

from taskflow import engines, task
from taskflow.patterns import linear_flow


def work(x):
    return x * 2


t = task.FunctorTask(work, provides="y")
t.notifier.register(task.EVENT_UPDATE_PROGRESS, lambda event, details: print(event, details))
print(engines.run(linear_flow.Flow("f").add(t), store={"x": 4}))

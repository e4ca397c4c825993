"""run_iter yields the engine's states; a failing run too."""

from taskflow import engines, task
from taskflow.patterns import linear_flow


class Ok(task.Task):
    def execute(self):
        pass


class Bad(task.Task):
    def execute(self):
        raise ValueError("bad")


engine = engines.load(linear_flow.Flow("ok").add(Ok(name="a"), Ok(name="b")))
print(list(engine.run_iter()))
engine = engines.load(linear_flow.Flow("bad").add(Ok(name="a"), Bad(name="b")))
seen = []
try:
    for state in engine.run_iter():
        seen.append(state)
except ValueError:
    print(seen)

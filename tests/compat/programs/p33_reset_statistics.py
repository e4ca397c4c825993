"""reset() lets a finished engine run its flow again."""

from taskflow import engines, task
from taskflow.patterns import linear_flow


class Count(task.Task):
    runs = 0

    def execute(self):
        Count.runs += 1
        return Count.runs


engine = engines.load(linear_flow.Flow("again").add(Count(name="count", provides="n")))
engine.run()
print(engine.storage.fetch("n"), engine.storage.get_flow_state())
engine.reset()
print(engine.storage.get_flow_state(), engine.storage.get_atom_state("count"))
engine.run()
print(engine.storage.fetch("n"), engine.storage.get_flow_state())
print(isinstance(engine.statistics, dict))

"""An unordered flow on the serial engine; results of tasks without provides are kept."""

from taskflow import engines, task
from taskflow.patterns import unordered_flow


class Echo(task.Task):
    def execute(self, value):
        return value * 2


flow = unordered_flow.Flow("fan")
for i in range(4):
    flow.add(Echo(name=f"echo-{i}", inject={"value": i}))
engine = engines.load(flow, engine="serial")
engine.run()
print(sorted(engine.storage.fetch_all().items()))
for i in range(4):
    print(engine.storage.get(f"echo-{i}"))
print(engine.storage.get_flow_state())

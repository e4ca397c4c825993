"""engine.storage: get, fetch, fetch_all, inject between compile and prepare, states, names."""

from taskflow import engines, task
from taskflow.patterns import linear_flow


class Greet(task.Task):
    def execute(self, who, greeting):
        return f"{greeting}, {who}"


flow = linear_flow.Flow("hello").add(Greet(name="greet", provides="message"))
engine = engines.load(flow, store={"who": "world"})
engine.compile()
engine.storage.inject({"greeting": "hi"})
engine.prepare()
engine.validate()
print(engine.storage.flow_name)
print(engine.storage.get_flow_state())
print(engine.storage.get_atom_state("greet"))
engine.run()
print(engine.storage.get_flow_state())
print(engine.storage.get_atom_state("greet"))
print(engine.storage.get("greet"))
print(engine.storage.fetch("message"))
print(engine.storage.fetch("who"))
print(sorted(engine.storage.fetch_all().items()))
print(engine.storage.flow_uuid == engine.storage.flow_uuid, bool(engine.storage.flow_uuid))

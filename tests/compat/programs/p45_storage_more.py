"""More of engine.storage: atom states with intentions, mapped arguments, failures."""

from taskflow import engines, exceptions, task
from taskflow.patterns import linear_flow


class Give(task.Task):
    def execute(self):
        return {"k": "v"}


class Fail(task.Task):
    def execute(self, given):
        raise KeyError("missing key")


flow = linear_flow.Flow("more").add(Give(name="give", provides="given"), Fail(name="fail"))
engine = engines.load(flow, store={"x": 1})
try:
    engine.run()
except KeyError as exc:
    print("raised", repr(exc))
states = engine.storage.get_atoms_states(["give", "fail"])
print(sorted(states.items()))
print(engine.storage.fetch_mapped_args({"a": "x"}))
try:
    engine.storage.fetch_mapped_args({"b": "given"})
except exceptions.NotFound:
    print("a reverted task's result is not provided any more")
failures = engine.storage.get_execute_failures()
print(sorted((name, f.exception_str) for name, f in failures.items()))
try:
    engine.storage.get_execute_result("give")
except exceptions.NotFound:
    print("no result once reverted;", "failures:", engine.storage.has_failures())
print(engine.storage.get_task_progress("give"), engine.storage.get_atom_intention("fail"))
print(bool(engine.storage.get_atom_uuid("give")))

"""A revert that fails too: the flow ends FAILURE and the run raises."""

from taskflow import engines, exceptions, task
from taskflow.listeners import capturing
from taskflow.patterns import linear_flow


class BadUndo(task.Task):
    def execute(self):
        print("bad-undo executes")

    def revert(self, **kwargs):
        print("bad-undo reverts and fails")
        raise OSError("cannot undo")


class Fail(task.Task):
    def execute(self):
        raise ValueError("broken")


flow = linear_flow.Flow("double-trouble").add(BadUndo(name="bad-undo"), Fail(name="fail"))
engine = engines.load(flow)
with capturing.CaptureListener(engine, capture_flow=True) as capture:
    try:
        engine.run()
    except exceptions.WrappedFailure as wrapped:
        print("wrapped", sorted(f.exception_str for f in wrapped))
    except Exception as exc:
        print("raised", type(exc).__name__, exc)
for kind, state, details in capture.values:
    print(kind, state, details.get("task_name", details.get("flow_name")))
print(engine.storage.get_flow_state())
print(engine.storage.get_atom_state("bad-undo"), engine.storage.get_atom_state("fail"))

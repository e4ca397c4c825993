"""A failure reverts completed tasks in reverse order; revert sees result and flow_failures."""

from taskflow import engines, task
from taskflow.patterns import linear_flow


class Make(task.Task):
    def execute(self, label):
        print("make", label)
        return label

    def revert(self, label, result, flow_failures, **kwargs):
        print("revert", label, result, sorted(flow_failures))
        for name, failure in sorted(flow_failures.items()):
            print(" ", name, failure.exception_str, failure.check(ValueError))


class Fail(task.Task):
    def execute(self):
        raise ValueError("bad value")

    def revert(self, result, **kwargs):
        print("revert fail", type(result).__name__, result.exception_str)


flow = linear_flow.Flow("rev").add(
    Make(name="a", inject={"label": "A"}),
    Make(name="b", inject={"label": "B"}),
    Fail(name="fail"),
    Make(name="never", inject={"label": "N"}),
)
engine = engines.load(flow)
try:
    engine.run()
except ValueError as exc:
    print("raised", type(exc).__name__, exc)
print(engine.storage.get_flow_state())
for name in ("a", "b", "fail", "never"):
    print(name, engine.storage.get_atom_state(name))

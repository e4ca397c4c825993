"""A nested flow whose retry gives up with REVERT; REVERT_ALL reverts everything."""

from taskflow import engines, retry, task
from taskflow.patterns import linear_flow


class Step(task.Task):
    def execute(self):
        print("execute", self.name)

    def revert(self, **kwargs):
        print("revert", self.name)


class Fail(task.Task):
    def execute(self):
        print("execute", self.name)
        raise RuntimeError(self.name)


for controller in (retry.AlwaysRevert, retry.AlwaysRevertAll):
    print("--", controller.__name__)
    inner = linear_flow.Flow("inner", retry=controller(name="ctl")).add(
        Step(name="inner-step"), Fail(name="inner-fail")
    )
    outer = linear_flow.Flow("outer").add(Step(name="first"), inner, Step(name="last"))
    engine = engines.load(outer)
    try:
        engine.run()
    except RuntimeError as exc:
        print("raised", exc)
    print(engine.storage.get_flow_state())
    for name in ("first", "ctl", "inner-step", "inner-fail", "last"):
        print(" ", name, engine.storage.get_atom_state(name))

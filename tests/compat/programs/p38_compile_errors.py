"""Errors found before anything runs: duplicate names, a missing input, a cycle of data."""

from taskflow import engines, exceptions, task
from taskflow.patterns import graph_flow, linear_flow


class Give(task.Task):
    def execute(self):
        return 1


class Needs(task.Task):
    def execute(self, x):
        return x


def attempt(label, build):
    try:
        engines.run(build())
        print(label, "ran")
    except exceptions.TaskFlowException as exc:
        print(label, type(exc).__name__)


attempt("duplicate", lambda: linear_flow.Flow("d").add(Give(name="same"), Give(name="same")))
attempt("missing", lambda: linear_flow.Flow("m").add(Needs(name="needs")))
attempt(
    "cycle",
    lambda: graph_flow.Flow("c").add(
        Needs(name="a", provides="y", rebind={"x": "z"}),
        Needs(name="b", provides="z", rebind={"x": "y"}),
    ),
)

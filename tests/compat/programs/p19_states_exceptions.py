"""taskflow.states names and the exceptions programs catch."""

from taskflow import engines, exceptions, states, task
from taskflow.patterns import graph_flow, linear_flow

print(states.PENDING, states.RUNNING, states.SUCCESS, states.FAILURE)
print(states.REVERTING, states.REVERTED, states.RETRYING, states.IGNORE)
print(states.SUSPENDED, states.RESUMING, states.REVERT_FAILURE)


class Needs(task.Task):
    def execute(self, missing):
        pass


class Gives(task.Task):
    def execute(self):
        pass


try:
    engines.run(linear_flow.Flow("m").add(Needs(name="needs")))
except exceptions.MissingDependencies as exc:
    print(type(exc).__name__, isinstance(exc, exceptions.TaskFlowException))

try:
    linear_flow.Flow("d").add(Gives(name="same"), Gives(name="same"))
except exceptions.Duplicate as exc:
    print(type(exc).__name__)

try:
    flow = graph_flow.Flow("cycle")
    a = Gives(name="a", provides="x", requires=[])
    flow.add(a)
    flow.link(a, a)
except exceptions.DependencyFailure as exc:
    print(type(exc).__name__)

print(issubclass(exceptions.NotFound, exceptions.TaskFlowException))
print(issubclass(exceptions.WrappedFailure, Exception))

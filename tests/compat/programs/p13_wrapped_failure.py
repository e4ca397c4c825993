"""Two tasks failing at once on the parallel engine raise WrappedFailure."""

import threading

from taskflow import engines, exceptions, task
from taskflow.patterns import unordered_flow

barrier = threading.Barrier(2)


class Fail(task.Task):
    def execute(self):
        barrier.wait(timeout=10)
        raise RuntimeError(f"failed in {self.name}")


flow = unordered_flow.Flow("both").add(Fail(name="f1"), Fail(name="f2"))
try:
    engines.run(flow, engine="parallel", max_workers=2)
except exceptions.WrappedFailure as wrapped:
    print(len(wrapped))
    print(sorted(str(f.exception) for f in wrapped))
    print(wrapped.check(RuntimeError) is not None, wrapped.check(KeyError))
    print(isinstance(wrapped, exceptions.TaskFlowException))

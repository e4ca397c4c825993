"""A Retry subclass with on_failure, execute and revert; history it is given."""

from taskflow import engines, retry, task
from taskflow.patterns import linear_flow


class Decide(retry.Retry):
    def on_failure(self, history, *args, **kwargs):
        print("on_failure, attempts so far:", len(history))
        for value, failures in history:
            print("  value", value, sorted(failures))
        if len(history) < 2:
            return retry.RETRY
        return retry.REVERT

    def execute(self, history, *args, **kwargs):
        print("retry execute", len(history))
        return len(history) + 1

    def revert(self, history, *args, **kwargs):
        print("retry revert", len(history))


class Fail(task.Task):
    def execute(self, attempt):
        print("fail on attempt", attempt)
        raise KeyError(attempt)


flow = linear_flow.Flow("custom", retry=Decide(name="decide", provides="attempt"))
flow.add(Fail(name="fail"))
try:
    engines.run(flow)
except KeyError as exc:
    print("error", repr(exc))

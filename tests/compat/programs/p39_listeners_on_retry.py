"""Listeners over a retried flow: retry lines, PENDING resets, and the atom notifier's view."""

import logging
import sys

from taskflow import engines, retry, states, task
from taskflow.listeners import logging as logging_listeners
from taskflow.listeners import printing
from taskflow.patterns import linear_flow

handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
log = logging.getLogger("retrying")
log.addHandler(handler)
log.setLevel(logging.DEBUG)
log.propagate = False


class Flaky(task.Task):
    calls = 0

    def execute(self):
        Flaky.calls += 1
        self.update_progress(0.5)
        if Flaky.calls == 1:
            raise RuntimeError("first call fails")
        return Flaky.calls


def show(event, details):
    print("atom-notifier", event, sorted(details))


flow = linear_flow.Flow("retried", retry=retry.Times(2, name="twice", provides="attempt"))
flow.add(Flaky(name="flaky", provides="calls"))
engine = engines.load(flow)
engine.atom_notifier.register("*", show)
quiet = (states.RUNNING, states.SUCCESS, states.REVERTING, states.REVERTED, states.PENDING)
with (
    printing.PrintingListener(engine, task_listen_for=quiet),
    logging_listeners.DynamicLoggingListener(engine, log=log, task_listen_for=quiet),
):
    engine.run()
print(engine.storage.fetch("attempt"), engine.storage.fetch("calls"))

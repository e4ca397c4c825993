"""LoggingListener and DynamicLoggingListener write to a logger."""

import logging
import sys

from taskflow import engines, task
from taskflow.listeners import logging as logging_listeners
from taskflow.patterns import linear_flow

handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
log = logging.getLogger("demo")
log.addHandler(handler)
log.setLevel(logging.DEBUG)
log.propagate = False


class Ok(task.Task):
    def execute(self):
        return 1


engine = engines.load(linear_flow.Flow("logged").add(Ok(name="ok")))
with logging_listeners.LoggingListener(engine, log=log, level=logging.INFO):
    engine.run()

engine = engines.load(linear_flow.Flow("dynamic").add(Ok(name="ok")))
with logging_listeners.DynamicLoggingListener(engine, log=log):
    engine.run()

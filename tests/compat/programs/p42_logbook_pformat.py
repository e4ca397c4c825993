"""The program's own logbook and flow detail are up to date after a run; pformat shows them."""

import contextlib

from taskflow import engines, task
from taskflow.patterns import linear_flow
from taskflow.persistence import backends, models


class Hi(task.Task):
    def execute(self):
        print("hi")
        return "said hi"

    def revert(self, **kwargs):
        print("taking hi back")


class Bye(task.Task):
    def execute(self):
        raise RuntimeError("no bye")


backend = backends.fetch({"connection": "memory://"})
with contextlib.closing(backend.get_connection()) as conn:
    conn.upgrade()
book = models.LogBook("pretty-book")
flow = linear_flow.Flow("pretty").add(Hi(name="hi"), Bye(name="bye"))
engine = engines.load(flow, backend=backend, book=book)
try:
    engine.run()
except RuntimeError as exc:
    print("failed:", exc)
print(book.pformat())
print(len(book), [fd.state for fd in book])

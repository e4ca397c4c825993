"""A SQLite backend: a run saved, the logbook read back in another connection."""

import contextlib
import os
import sys
import tempfile

from taskflow import engines, task
from taskflow.patterns import linear_flow
from taskflow.persistence import backends, models


class Add(task.Task):
    def execute(self, a, b):
        return a + b


workdir = tempfile.mkdtemp()
url = "sqlite:///" + os.path.join(workdir, "state.db")
backend = backends.fetch({"connection": url})
with contextlib.closing(backend.get_connection()) as conn:
    conn.upgrade()

book = models.LogBook("sqlite-book")
flow = linear_flow.Flow("adder").add(Add(name="add", provides="sum"))
engine = engines.load(flow, backend=backend, book=book, store={"a": 2, "b": 3})
engine.run()
print(engine.storage.fetch("sum"))

backend = backends.fetch({"connection": url})
with contextlib.closing(backend.get_connection()) as conn:
    books = list(conn.get_logbooks())
    print(len(books), books[0].name)
    for fd in books[0]:
        print(fd.name, fd.state)
        for ad in fd:
            print(" ", ad.name, ad.state, ad.results)
print(sys.argv[1:] or "no args")

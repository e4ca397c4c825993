"""A memory backend: a logbook and flow detail, filled in by a run."""

import contextlib

from taskflow import engines, task
from taskflow.patterns import linear_flow
from taskflow.persistence import backends, models
from taskflow.utils import persistence_utils


class Work(task.Task):
    def execute(self, x):
        return x + 1


backend = backends.fetch({"connection": "memory://"})
with contextlib.closing(backend.get_connection()) as conn:
    conn.upgrade()
book = models.LogBook("my-book")
flow_detail = models.FlowDetail("my-flow", uuid="1f7dbb4f-0d48-4f6a-8a61-6b2d6c1b5a10")
book.add(flow_detail)
with contextlib.closing(backend.get_connection()) as conn:
    conn.save_logbook(book)

flow = linear_flow.Flow("my-flow").add(Work(name="w", provides="y"))
engine = engines.load(flow, flow_detail=flow_detail, book=book, backend=backend, store={"x": 1})
engine.run()
print(engine.storage.fetch("y"))
with contextlib.closing(backend.get_connection()) as conn:
    loaded = conn.get_logbook(book.uuid)
    print(loaded.name, len(loaded))
    for fd in loaded:
        print(fd.name, fd.state, fd.uuid)
        for ad in fd:
            print(" ", type(ad).__name__, ad.name, ad.state, ad.results)
    print([b.name for b in conn.get_logbooks()])

book2, fd2 = persistence_utils.temporary_flow_detail(backend)
print(type(book2).__name__, type(fd2).__name__, len(book2))

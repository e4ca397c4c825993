"""A persisted run suspended half-way: the stored flow detail, then a second engine resumes it."""

import contextlib

from taskflow import engines, states, task
from taskflow.patterns import linear_flow
from taskflow.persistence import backends
from taskflow.utils import persistence_utils


class Step(task.Task):
    def execute(self):
        print("executing", self)
        return self.name.upper()


def make_flow():
    return linear_flow.Flow("stored").add(Step(name="one"), Step(name="two"), Step(name="three"))


def show(flow_detail):
    print("flow", flow_detail.name, flow_detail.state)
    for ad in flow_detail:
        print(" ", ad.name, ad.state, ad.results)


backend = backends.fetch({"connection": "memory://"})
with contextlib.closing(backend.get_connection()) as conn:
    conn.upgrade()
book = persistence_utils.temporary_log_book(backend)
flow_detail = persistence_utils.create_flow_detail(make_flow(), book=book, backend=backend)
engine = engines.load(make_flow(), backend=backend, book=book, flow_detail=flow_detail)


def pause_after_one(state, details):
    if state == states.SUCCESS and details["task_name"] == "one":
        engine.suspend()


engine.atom_notifier.register("*", pause_after_one)
engine.run()
show(flow_detail)
with contextlib.closing(backend.get_connection()) as conn:
    show(conn.get_logbook(book.uuid).find(flow_detail.uuid))

resumed = engines.load(make_flow(), backend=backend, book=book, flow_detail=flow_detail)
resumed.run()
show(flow_detail)

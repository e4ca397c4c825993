"""A resumed persisted run still sees the store its first run was given."""

import contextlib

from taskflow import engines, states, task
from taskflow.patterns import linear_flow
from taskflow.persistence import backends
from taskflow.utils import persistence_utils


class Scale(task.Task):
    def execute(self, x, factor):
        return x * factor


def make_flow():
    return linear_flow.Flow("scaling").add(
        Scale(name="double", provides="y", inject={"factor": 2}),
        Scale(name="triple", provides="z", rebind={"x": "y"}, inject={"factor": 3}),
    )


backend = backends.fetch({"connection": "memory://"})
with contextlib.closing(backend.get_connection()) as conn:
    conn.upgrade()
book = persistence_utils.temporary_log_book(backend)
flow_detail = persistence_utils.create_flow_detail(make_flow(), book=book, backend=backend)
first = engines.load(
    make_flow(), store={"x": 5}, backend=backend, book=book, flow_detail=flow_detail
)


def pause(state, details):
    if state == states.SUCCESS and details["task_name"] == "double":
        first.suspend()


first.atom_notifier.register("*", pause)
first.run()
print(first.storage.get_flow_state(), sorted(first.storage.fetch_all().items()))

second = engines.load(make_flow(), backend=backend, book=book, flow_detail=flow_detail)
second.run()
print(second.storage.get_flow_state(), sorted(second.storage.fetch_all().items()))
print(second.storage.fetch("x"))

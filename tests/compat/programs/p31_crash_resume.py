"""A child process dies in the middle of a persisted run; the parent resumes it.

The child is started with subprocess, so it runs under the same TaskFlow (or
layer) as this program.
"""

import contextlib
import os
import subprocess
import sys
import tempfile

from taskflow import engines, task
from taskflow.patterns import linear_flow
from taskflow.persistence import backends, models


class Step(task.Task):
    def execute(self):
        print("execute", self.name, flush=True)
        if self.name == "two" and os.environ.get("CRASH_AT_TWO"):
            os._exit(3)
        return self.name


def make_flow():
    return linear_flow.Flow("crashy").add(
        Step(name="one", provides="r1"), Step(name="two", provides="r2"), Step(name="three")
    )


def backend_for(db):
    return backends.fetch({"connection": "sqlite:///" + db})


if len(sys.argv) > 2 and sys.argv[1] == "child":
    backend = backend_for(sys.argv[2])
    with contextlib.closing(backend.get_connection()) as conn:
        conn.upgrade()
    book = models.LogBook("crash-book")
    flow_detail = models.FlowDetail("crashy", uuid="5b8b6f0c-7c35-4b7a-9a57-0f6b8f1b7d21")
    book.add(flow_detail)
    with contextlib.closing(backend.get_connection()) as conn:
        conn.save_logbook(book)
    engine = engines.load(make_flow(), backend=backend, book=book, flow_detail=flow_detail)
    engine.run()
    sys.exit(0)

db = os.path.join(tempfile.mkdtemp(), "crash.db")
child = subprocess.run(
    [sys.executable, __file__, "child", db],
    env={**os.environ, "CRASH_AT_TWO": "1"},
    capture_output=True,
    text=True,
)
print("child exit", child.returncode)
print(child.stdout, end="")
backend = backend_for(db)
with contextlib.closing(backend.get_connection()) as conn:
    book = next(iter(conn.get_logbooks()))
    flow_detail = next(iter(book))
    # Atoms still PENDING are left out: steadyflow stores an atom once it starts
    # (TaskFlow stores every atom up front); see docs/migrating-from-taskflow.md.
    started = sorted((ad.name, ad.state) for ad in flow_detail if ad.state != "PENDING")
    print("stored", flow_detail.state, started)
engine = engines.load(make_flow(), backend=backend, book=book, flow_detail=flow_detail)
engine.run()
print(sorted(engine.storage.fetch_all().items()))
print(engine.storage.get_flow_state())

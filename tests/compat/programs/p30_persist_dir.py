"""A dir: backend survives a new backend object; file: is the same thing."""

import contextlib
import tempfile

from taskflow import engines, task
from taskflow.patterns import linear_flow
from taskflow.persistence import backends
from taskflow.utils import persistence_utils


class Hello(task.Task):
    def execute(self, name):
        return f"hello {name}"


path = tempfile.mkdtemp()
for scheme in ("dir", "file"):
    backend = backends.fetch({"connection": f"{scheme}://", "path": f"{path}/{scheme}"})
    with contextlib.closing(backend.get_connection()) as conn:
        conn.upgrade()
    book = persistence_utils.temporary_log_book(backend)
    flow = linear_flow.Flow("greeting").add(Hello(name="hello", provides="greeting"))
    engine = engines.load(flow, backend=backend, book=book, store={"name": scheme})
    engine.run()
    reopened = backends.fetch({"connection": f"{scheme}://", "path": f"{path}/{scheme}"})
    with contextlib.closing(reopened.get_connection()) as conn:
        loaded = conn.get_logbook(book.uuid)
        for fd in loaded:
            print(
                scheme, fd.name, fd.state, sorted((ad.name, ad.state, str(ad.results)) for ad in fd)
            )

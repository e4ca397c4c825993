"""load_from_factory saves the factory; flow_from_detail and load_from_detail rebuild it."""

import contextlib

from taskflow import engines, task
from taskflow.patterns import linear_flow
from taskflow.persistence import backends


class Double(task.Task):
    def execute(self, n):
        return n * 2


def make_flow(count):
    flow = linear_flow.Flow("doubling")
    for i in range(count):
        flow.add(Double(name=f"d{i}", provides=f"out{i}", inject={"n": i}))
    return flow


backend = backends.fetch({"connection": "memory://"})
engine = engines.load_from_factory(make_flow, factory_args=[3], backend=backend)
print(engine.storage.flow_name)
engine.run()
with contextlib.closing(backend.get_connection()) as conn:
    book = next(iter(conn.get_logbooks()))
    flow_detail = next(iter(book))
print(sorted(flow_detail.meta["factory"]))
print(flow_detail.meta["factory"]["name"], flow_detail.meta["factory"]["args"])
rebuilt = engines.flow_from_detail(flow_detail)
print(rebuilt.name, [atom.name for atom in rebuilt])
engine = engines.load_from_detail(flow_detail, backend=backend)
engine.run()
print(sorted(engine.storage.fetch_all().items()))

"""TaskFlow 6.5 implementations of the benchmark workloads (runs in .venv-peers).

Each function mirrors the steadyflow workload of the same name in
``benchmarks/workloads.py``: same shape of flow, same part timed.
Run as ``python taskflow_bench.py WORKLOAD N`` (see ``_harness``).
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import compat_programs
from _harness import fresh_pg_database, main, measure_import, measure_open, scratch_dir, timed
from _registry import Impls
from taskflow import engines, retry, task
from taskflow.patterns import graph_flow, linear_flow, unordered_flow
from taskflow.persistence import backends

IMPLS = Impls()


class Noop(task.Task):  # type: ignore[misc]
    def execute(self) -> None:
        return None


class Sleep10ms(task.Task):  # type: ignore[misc]
    def execute(self) -> None:
        time.sleep(0.01)


def _chain(n: int) -> Any:
    return linear_flow.Flow("chain").add(*[Noop(name=f"t{i}") for i in range(n)])


def _ready(flow: Any, **options: Any) -> Any:
    engine = engines.load(flow, **options)
    engine.compile()
    engine.prepare()
    return engine


@IMPLS.add("rss_chain")
@IMPLS.add("serial_chain")
def serial_chain(n: int) -> dict[str, float]:
    engine = _ready(_chain(n), engine="serial")
    out: dict[str, float] = {}
    with timed(out):
        engine.run()
    return out


@IMPLS.add("parallel_unordered")
def parallel_unordered(n: int) -> dict[str, float]:
    flow = unordered_flow.Flow("wide").add(*[Noop(name=f"t{i}") for i in range(n)])
    engine = _ready(flow, engine="parallel", max_workers=8)
    out: dict[str, float] = {}
    with timed(out):
        engine.run()
    return out


@IMPLS.add("parallel_sleep")
def parallel_sleep(n: int) -> dict[str, float]:
    flow = unordered_flow.Flow("sleepy").add(*[Sleep10ms(name=f"t{i}") for i in range(n)])
    engine = _ready(flow, engine="parallel", max_workers=8)
    out: dict[str, float] = {}
    with timed(out):
        engine.run()
    ideal = n * 0.01 / 8
    out["x_ideal"] = out["seconds"] / ideal
    return out


@IMPLS.add("compile_chain")
def compile_chain(n: int) -> dict[str, float]:
    flow = _chain(n)
    out: dict[str, float] = {}
    with timed(out):
        _ready(flow, engine="serial")
    return out


@IMPLS.add("compile_fanout")
def compile_fanout(n: int) -> dict[str, float]:
    head, tail = Noop(name="head"), Noop(name="tail")
    middle = [Noop(name=f"m{i}") for i in range(n)]
    flow = graph_flow.Flow("fan").add(head, tail, *middle)
    for m in middle:
        flow.link(head, m)
        flow.link(m, tail)
    out: dict[str, float] = {}
    with timed(out):
        _ready(flow, engine="serial")
    return out


@IMPLS.add("revert")
def revert(n: int) -> dict[str, float]:
    failed_at: list[float] = []

    class FailLast(task.Task):  # type: ignore[misc]
        def execute(self) -> None:
            failed_at.append(time.perf_counter())
            raise RuntimeError("last task fails")

    flow = _chain(n).add(FailLast(name="fail"))
    engine = _ready(flow, engine="serial")
    out: dict[str, float] = {}
    with timed(out), contextlib.suppress(RuntimeError):
        engine.run()
    end = time.perf_counter()
    out["revert_seconds"] = end - failed_at[0]
    out["revert_us_per_task"] = out["revert_seconds"] / n * 1e6
    return out


@IMPLS.add("retry")
def retry_times(n: int) -> dict[str, float]:
    calls = [0]

    class Flaky(task.Task):  # type: ignore[misc]
        def execute(self) -> None:
            calls[0] += 1
            if calls[0] < n:
                raise RuntimeError(f"attempt {calls[0]} fails")

    flow = linear_flow.Flow("r", retry=retry.Times(attempts=n)).add(Flaky(name="flaky"))
    engine = _ready(flow, engine="serial")
    out: dict[str, float] = {}
    with timed(out):
        engine.run()
    assert calls[0] == n, calls
    return out


def _persisted(n: int, connection: str) -> dict[str, float]:
    backend = backends.fetch({"connection": connection})
    try:
        with contextlib.closing(backend.get_connection()) as conn:
            conn.upgrade()
        # With backend= and no flow_detail, engines.load makes a temporary
        # logbook + flow detail in that backend.
        engine = _ready(_chain(n), engine="serial", backend=backend)
        out: dict[str, float] = {}
        with timed(out):
            engine.run()
        return out
    finally:
        backend.close()


@IMPLS.add("persist_sqlite")
def persist_sqlite(n: int) -> dict[str, float]:
    with scratch_dir() as tmp:
        return _persisted(n, f"sqlite:///{tmp}/taskflow.db")


@IMPLS.add("persist_postgres")
def persist_postgres(n: int) -> dict[str, float]:
    with fresh_pg_database() as (db, where):
        return _persisted(n, f"postgresql://{where}/{db}")


# The TaskFlow programs of the compat_* workloads: the same code the layer runs.
IMPLS.add("compat_linear")(compat_programs.linear_1000)
IMPLS.add("compat_parallel")(compat_programs.unordered_parallel)
IMPLS.add("compat_persist_sqlite")(compat_programs.persisted_sqlite)


@IMPLS.add("import_time")
def import_time(n: int) -> dict[str, float]:
    return measure_import(
        "from taskflow import engines, task; from taskflow.patterns import linear_flow", n
    )


@IMPLS.add("open_store")
def open_store(n: int) -> dict[str, float]:
    # TaskFlow's comparable step: fetch the SQLite backend, then bring its schema up to date.
    return measure_open(
        "from taskflow.persistence import backends; "
        "backend = backends.fetch({{'connection': 'sqlite:///{path}'}}); "
        "connection = backend.get_connection(); connection.upgrade(); "
        "connection.close(); backend.close()",
        n,
    )


if __name__ == "__main__":
    sys.exit(main(IMPLS))

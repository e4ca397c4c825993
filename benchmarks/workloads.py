"""Every benchmark workload: its definition, target and steadyflow implementation.

Adding a workload is one decorated function here (and, optionally, a function
of the same name in ``peers/taskflow_bench.py`` or ``peers/dbos_bench.py``).
``steadyflow`` is imported inside the functions so that ``run.py`` can read
this registry without importing the library under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from typing import TYPE_CHECKING, Any

from _harness import fresh_pg_database, measure_import, measure_open, scratch_dir, timed
from _registry import Target, workload

if TYPE_CHECKING:
    from collections.abc import Mapping

    import steadyflow as sf_types

# ---------------------------------------------------------------- helpers


def _at_most(limit: float, n: int | None = None) -> Target:
    """Target: the median at size ``n`` (or at every size measured) is <= limit."""

    def check(medians: Mapping[int, float]) -> bool | None:
        if n is not None:
            return None if n not in medians else medians[n] <= limit
        return None if not medians else all(v <= limit for v in medians.values())

    return Target(f"≤ {limit:g}" + (f" at n={n:,}" if n is not None else ""), check)


def _serial_target(medians: Mapping[int, float]) -> bool | None:
    if 10_000 not in medians or 100 not in medians:
        return None
    return medians[10_000] <= 20 and medians[10_000] <= 1.5 * medians[100]


def _noop_class() -> type[sf_types.Task]:
    import steadyflow as sf

    class Noop(sf.Task):
        def execute(self) -> None:
            return None

    return Noop


def _chain(n: int) -> sf_types.Linear:
    import steadyflow as sf

    noop = _noop_class()
    return sf.Linear("chain", *[noop(name=f"t{i}") for i in range(n)])


def _ready(flow: Any, **options: Any) -> Any:
    import steadyflow as sf

    engine = sf.load(flow, **options)
    engine.compile()
    engine.prepare()
    return engine


# ---------------------------------------------------------------- workloads


@workload(
    "floor",
    title="Physical floor: plain loop calling n no-op functions",
    sizes=(10_000,),
    metric="ns_per_call",
    note="The interpreter's cost of a call; engine rows show their multiple of it.",
    always=True,
)
def floor(n: int) -> dict[str, float]:
    class Plain:
        def execute(self) -> None:
            return None

    calls = [Plain().execute for _ in range(n)]
    samples: list[float] = []
    for _ in range(7):
        start = time.perf_counter()
        for call in calls:
            call()
        samples.append(time.perf_counter() - start)
    return {"seconds": statistics.median(samples)}


@workload(
    "serial_chain",
    title="Serial engine, linear chain of n no-op tasks (run only)",
    sizes=(100, 1_000, 10_000),
    quick_sizes=(100, 10_000),
    target=Target("≤ 20 at n=10,000 and ≤ 1.5x n=100", _serial_target),
    details=("x_floor", "rss_mb"),
)
def serial_chain(n: int) -> dict[str, float]:
    engine = _ready(_chain(n), engine="serial")
    out: dict[str, float] = {}
    with timed(out):
        engine.run()
    return out


@workload(
    "parallel_unordered",
    title="Parallel engine (8 threads), unordered flow of n no-op tasks",
    sizes=(1_000,),
    target=_at_most(60),
    details=("x_floor",),
)
def parallel_unordered(n: int) -> dict[str, float]:
    import steadyflow as sf

    noop = _noop_class()
    flow = sf.Unordered("wide", *[noop(name=f"t{i}") for i in range(n)])
    engine = _ready(flow, engine="parallel", max_workers=8)
    out: dict[str, float] = {}
    with timed(out):
        engine.run()
    return out


@workload(
    "parallel_sleep",
    title="Parallel engine (8 threads), n tasks sleeping 10 ms; ideal nx10ms/8",
    sizes=(200,),
    metric="seconds",
    target=Target("≤ 1.2x ideal 0.25 s", lambda m: None if 200 not in m else m[200] <= 0.30),
    details=("x_ideal",),
)
def parallel_sleep(n: int) -> dict[str, float]:
    import steadyflow as sf

    class Sleep10ms(sf.Task):
        def execute(self) -> None:
            time.sleep(0.01)

    flow = sf.Unordered("sleepy", *[Sleep10ms(name=f"t{i}") for i in range(n)])
    engine = _ready(flow, engine="parallel", max_workers=8)
    out: dict[str, float] = {}
    with timed(out):
        engine.run()
    out["x_ideal"] = out["seconds"] / (n * 0.01 / 8)
    return out


@workload(
    "compile_chain",
    title="Load + compile + prepare of a linear chain of n tasks",
    sizes=(2_000,),
    metric="ms",
)
def compile_chain(n: int) -> dict[str, float]:
    flow = _chain(n)
    out: dict[str, float] = {}
    with timed(out):
        _ready(flow, engine="serial")
    return out


@workload(
    "compile_fanout",
    title="Load + compile + prepare of a graph 1 → n → 1 (fan-out/fan-in)",
    sizes=(1_000,),
    metric="ms",
)
def compile_fanout(n: int) -> dict[str, float]:
    import steadyflow as sf

    noop = _noop_class()
    head, tail = noop(name="head"), noop(name="tail")
    middle = [noop(name=f"m{i}") for i in range(n)]
    flow = sf.Graph("fan").add(head, tail, *middle)
    for m in middle:
        flow.link(head, m)
        flow.link(m, tail)
    out: dict[str, float] = {}
    with timed(out):
        _ready(flow, engine="serial")
    return out


@workload(
    "revert",
    title="Serial: n completed tasks reverted after task n+1 fails (revert phase)",
    sizes=(1_000,),
    quick_sizes=(200,),
    metric="revert_us_per_task",
    details=("ms",),
)
def revert(n: int) -> dict[str, float]:
    import steadyflow as sf

    failed_at: list[float] = []

    class FailLast(sf.Task):
        def execute(self) -> None:
            failed_at.append(time.perf_counter())
            raise RuntimeError("last task fails")

    noop = _noop_class()
    tasks = [noop(name=f"t{i}") for i in range(n)]
    flow = sf.Linear("chain", *tasks, FailLast(name="fail"))
    engine = _ready(flow, engine="serial")
    out: dict[str, float] = {}
    with timed(out), contextlib.suppress(RuntimeError):
        engine.run()
    end = time.perf_counter()
    out["revert_seconds"] = end - failed_at[0]
    out["revert_us_per_task"] = out["revert_seconds"] / n * 1e6
    return out


@workload(
    "retry",
    title="Retry loop: Times(n) around a task failing n-1 times, then succeeding",
    sizes=(5,),
    metric="ms",
)
def retry(n: int) -> dict[str, float]:
    import steadyflow as sf

    calls = [0]

    class Flaky(sf.Task):
        def execute(self) -> None:
            calls[0] += 1
            if calls[0] < n:
                raise RuntimeError(f"attempt {calls[0]} fails")

    flow = sf.Linear("r", Flaky(name="flaky"), retry=sf.retry.Times(n))
    engine = _ready(flow, engine="serial")
    out: dict[str, float] = {}
    with timed(out):
        engine.run()
    if calls[0] != n:
        raise AssertionError(f"expected {n} attempts, saw {calls[0]}")
    return out


def _persisted(n: int, backend: str) -> dict[str, float]:
    engine = _ready(_chain(n), engine="serial", backend=backend)
    out: dict[str, float] = {}
    with timed(out):
        engine.run()
    close = getattr(engine, "close", None)
    if callable(close):
        close()
    return out


@workload(
    "persist_sqlite",
    title="Persisted serial chain of n no-op tasks, SQLite file (run only)",
    sizes=(200, 1_000),
    quick_sizes=(200,),
    target=_at_most(1000),
)
def persist_sqlite(n: int) -> dict[str, float]:
    with scratch_dir() as tmp:
        return _persisted(n, f"sqlite:///{tmp}/steadyflow.db")


@workload(
    "persist_postgres",
    title="Persisted serial chain of n no-op tasks, PostgreSQL 127.0.0.1 (run only)",
    sizes=(200, 1_000),
    quick_sizes=(200,),
    target=_at_most(2000),
)
def persist_postgres(n: int) -> dict[str, float]:
    with fresh_pg_database() as (db, where):
        return _persisted(n, f"postgresql://{where}/{db}")


@workload(
    "async_unordered",
    title="asyncio engine (run_async), unordered flow of n async no-op tasks",
    sizes=(1_000,),
    target=_at_most(30),
    note="TaskFlow has no asyncio engine; DBOS is not an in-memory engine.",
    absent={"taskflow": "n/a: no asyncio engine"},
    details=("x_floor",),
)
def async_unordered(n: int) -> dict[str, float]:
    import steadyflow as sf

    class AsyncNoop(sf.Task):
        async def execute(self) -> None:
            return None

    flow = sf.Unordered("async", *[AsyncNoop(name=f"t{i}") for i in range(n)])
    sf.load(flow).compile()  # the plan is cached on the flow: time the run, as other rows do
    out: dict[str, float] = {}

    async def main() -> None:
        with timed(out):
            await sf.run_async(flow)

    asyncio.run(main())
    return out


@workload(
    "rss_chain",
    title="Peak RSS of a process running a serial chain of n no-op tasks",
    sizes=(10_000,),
    metric="rss_mb",
    target=_at_most(100, 10_000),
    note="Whole process (interpreter + imports + flow + run), from getrusage.",
)
def rss_chain(n: int) -> dict[str, float]:
    return serial_chain(n)


@workload(
    "import_time",
    title="Import time in a fresh interpreter minus a bare one (n launches each)",
    sizes=(7,),
    quick_sizes=(3,),
    metric="import_ms",
    target=_at_most(50),
    details=("modules",),
)
def import_time(n: int) -> dict[str, float]:
    return measure_import("import steadyflow", n)


@workload(
    "open_store",
    title="Import plus opening an existing SQLite store, fresh interpreter minus a bare one",
    sizes=(7,),
    quick_sizes=(3,),
    metric="ms",
    target=_at_most(60),
    note=(
        "What a CLI command or short-lived job pays per start. Details: the same for a "
        "new store (target: at most 100 ms). TaskFlow: backends.fetch(sqlite) + upgrade()."
    ),
    details=("new_store_ms",),
)
def open_store(n: int) -> dict[str, float]:
    return measure_open(
        "import steadyflow; steadyflow.persistence.open_backend('sqlite:///{path}').close()", n
    )


# ---------------------------------------------------------------- TaskFlow programs (issue 14)

_COMPAT_NOTE = (
    "A TaskFlow program (benchmarks/compat_programs.py) run unchanged: TaskFlow column on "
    "TaskFlow 6.5, steadyflow column through steadyflow.compat.taskflow; load + run timed. "
    "Goal: the ratio (TaskFlow ÷ layer) ≥ 20."
)


def _through_layer(program: str, n: int) -> dict[str, float]:
    from steadyflow.compat.taskflow import install

    install()
    import compat_programs

    measured: dict[str, float] = getattr(compat_programs, program)(n)
    return measured


@workload(
    "compat_linear",
    title="TaskFlow program: linear flow of n no-op tasks, serial engine",
    sizes=(1_000,),
    note=_COMPAT_NOTE,
)
def compat_linear(n: int) -> dict[str, float]:
    return _through_layer("linear_1000", n)


@workload(
    "compat_parallel",
    title="TaskFlow program: unordered flow of n no-op tasks, parallel engine (8 threads)",
    sizes=(1_000,),
    note=_COMPAT_NOTE,
)
def compat_parallel(n: int) -> dict[str, float]:
    return _through_layer("unordered_parallel", n)


@workload(
    "compat_persist_sqlite",
    title="TaskFlow program: linear flow of n no-op tasks persisted in SQLite",
    sizes=(200,),
    note=_COMPAT_NOTE,
)
def compat_persist_sqlite(n: int) -> dict[str, float]:
    return _through_layer("persisted_sqlite", n)

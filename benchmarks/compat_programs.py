"""TaskFlow programs timed on real TaskFlow and through steadyflow's TaskFlow layer.

The very same functions run on both sides: ``peers/taskflow_bench.py`` calls
them with TaskFlow 6.5 installed (in ``.venv-peers``); ``workloads.py`` calls
them after ``steadyflow.compat.taskflow.install()`` (in the project venv), so
``import taskflow`` resolves to the layer. Each times what a program spends
in ``engines.load(...)`` and ``engine.run()``; building the flow is setup.
Standard library only at import time: ``taskflow`` is imported on call.
"""

from __future__ import annotations

import contextlib
from typing import Any

from _harness import scratch_dir, timed

__all__ = ["linear_1000", "persisted_sqlite", "unordered_parallel"]


def _noop_tasks(n: int) -> list[Any]:
    from taskflow import task

    class Noop(task.Task):  # type: ignore[misc]
        def execute(self) -> None:
            return None

    return [Noop(name=f"t{i}") for i in range(n)]


def linear_1000(n: int) -> dict[str, float]:
    """A linear flow of ``n`` no-op tasks on the serial engine."""
    from taskflow import engines
    from taskflow.patterns import linear_flow

    flow = linear_flow.Flow("chain").add(*_noop_tasks(n))
    out: dict[str, float] = {}
    with timed(out):
        engines.load(flow, engine="serial").run()
    return out


def unordered_parallel(n: int) -> dict[str, float]:
    """An unordered flow of ``n`` no-op tasks on the parallel engine (8 threads)."""
    from taskflow import engines
    from taskflow.patterns import unordered_flow

    flow = unordered_flow.Flow("wide").add(*_noop_tasks(n))
    out: dict[str, float] = {}
    with timed(out):
        engines.load(flow, engine="parallel", max_workers=8).run()
    return out


def persisted_sqlite(n: int) -> dict[str, float]:
    """A linear flow of ``n`` no-op tasks persisted in a SQLite file."""
    from taskflow import engines
    from taskflow.patterns import linear_flow
    from taskflow.persistence import backends

    with scratch_dir() as tmp:
        backend = backends.fetch({"connection": f"sqlite:///{tmp}/program.db"})
        try:
            with contextlib.closing(backend.get_connection()) as conn:
                conn.upgrade()
            flow = linear_flow.Flow("chain").add(*_noop_tasks(n))
            out: dict[str, float] = {}
            with timed(out):
                engines.load(flow, engine="serial", backend=backend).run()
            return out
        finally:
            backend.close()

"""DBOS implementations of the persisted workloads (runs in .venv-peers).

A DBOS workflow of ``n`` no-op steps, each step checkpointed in DBOS's system
database (SQLite file or a fresh PostgreSQL database). ``DBOS.launch()``
(schema migrations, background threads) is setup and is not timed; only the
workflow call is. Run as ``python dbos_bench.py WORKLOAD N``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import fresh_pg_database, main, measure_import, scratch_dir, timed
from _registry import Impls
from dbos import DBOS, DBOSConfig

IMPLS = Impls()


def _run_workflow(n: int, system_database_url: str) -> dict[str, float]:
    config: DBOSConfig = {
        "name": "steadyflow-bench",
        "system_database_url": system_database_url,
        "log_level": "WARNING",
        "console_log_level": "WARNING",
        "enable_otlp": False,
    }
    DBOS(config=config)

    @DBOS.step()
    def noop() -> None:
        return None

    @DBOS.workflow()
    def chain(count: int) -> int:
        for _ in range(count):
            noop()
        return count

    DBOS.launch()
    try:
        out: dict[str, float] = {}
        with timed(out):
            result = chain(n)
        assert result == n
        return out
    finally:
        DBOS.destroy(destroy_registry=True)


@IMPLS.add("persist_sqlite")
def persist_sqlite(n: int) -> dict[str, float]:
    with scratch_dir() as tmp:
        return _run_workflow(n, f"sqlite:///{tmp}/dbos.sqlite")


@IMPLS.add("persist_postgres")
def persist_postgres(n: int) -> dict[str, float]:
    with fresh_pg_database() as (db, where):
        return _run_workflow(n, f"postgresql://{where}/{db}")


@IMPLS.add("import_time")
def import_time(n: int) -> dict[str, float]:
    return measure_import("from dbos import DBOS", n)


if __name__ == "__main__":
    sys.exit(main(IMPLS))

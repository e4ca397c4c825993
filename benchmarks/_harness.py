"""The subprocess side of a benchmark: run one workload once, print one JSON line.

Standard library only (it runs in the project's venv and in the peers' venv).
Usage of a worker script built on :func:`main`::

    python WORKER.py --list            # names of the workloads it implements
    python WORKER.py WORKLOAD N        # one measurement, as one JSON line on stdout

The JSON line is ``{"workload": ..., "n": ..., "metrics": {...}}``. ``metrics``
holds what the implementation returned plus ``rss_mb`` (peak resident set of
this process) and the derived per-task figures.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "PG_ADMIN_URL",
    "fresh_pg_database",
    "main",
    "measure_import",
    "measure_open",
    "peak_rss_mb",
    "scratch_dir",
    "timed",
]

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("BENCH_PG_DB", "test")
PG_ADMIN_URL = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_ADMIN_DB}"

Impl = Callable[[int], dict[str, float]]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux: KiB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def timed(out: dict[str, float], key: str = "seconds") -> Iterator[None]:
    """Store the wall-clock duration of the block in ``out[key]``; GC is paused.

    The cyclic collector is disabled inside the block so a collection triggered
    by setup garbage does not land in the measurement; it is the same for
    every library measured.
    """
    gc.collect()
    gc.disable()
    start = time.perf_counter()
    try:
        yield
    finally:
        out[key] = time.perf_counter() - start
        gc.enable()


@contextlib.contextmanager
def scratch_dir() -> Iterator[str]:
    """A fresh temporary directory, removed afterwards."""
    path = tempfile.mkdtemp(prefix="sfbench-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _pg_admin(sql: str) -> None:
    """Run one statement as the admin user in autocommit, with whatever driver exists."""
    try:
        import psycopg

        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_ADMIN_DB, autocommit=True
        ) as conn:
            conn.execute(sql)
        return
    except ImportError:
        pass
    try:
        import psycopg2

        conn2 = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_ADMIN_DB)
        try:
            conn2.autocommit = True
            with conn2.cursor() as cur:
                cur.execute(sql)
        finally:
            conn2.close()
        return
    except ImportError:
        pass
    subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", PG_ADMIN_DB, "-c", sql],
        check=True,
        capture_output=True,
    )


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[tuple[str, str]]:
    """Create a uniquely named PostgreSQL database; yield (name, host part of the URL).

    The URL host part is ``user@host:port``; build the URL with the scheme the
    library under test wants. The database is dropped afterwards (forcefully,
    in case a library left a connection open).
    """
    name = f"sfbench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield name, f"{PG_USER}@{PG_HOST}:{PG_PORT}"
    finally:
        with contextlib.suppress(Exception):
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure_import(statement: str, reps: int) -> dict[str, float]:
    """Median wall-clock cost of ``statement`` in a fresh interpreter, minus a bare one.

    Runs ``python -c pass`` and ``python -c STATEMENT`` alternately ``reps``
    times each with this interpreter (so the same venv), and counts the modules
    the statement adds to ``sys.modules``.
    """
    bare: list[float] = []
    full: list[float] = []
    for _ in range(reps):
        for code, sink in (("pass", bare), (statement, full)):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            sink.append(time.perf_counter() - start)
    probe = (
        f"import sys; before = set(sys.modules); {statement}; print(len(set(sys.modules) - before))"
    )
    count = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    median_diff = statistics.median(full) - statistics.median(bare)
    return {
        "seconds": max(median_diff, 0.0),
        "import_ms": max(median_diff, 0.0) * 1e3,
        "bare_ms": statistics.median(bare) * 1e3,
        "modules": float(count.strip()),
    }


def measure_open(statement: str, reps: int) -> dict[str, float]:
    """Median cost of opening a store in a fresh interpreter (imports included), minus a bare one.

    ``statement`` opens (and closes) the store at the file ``{path}``. It is run
    once to create a store, then ``python -c pass``, the statement on that
    existing store, and the statement on a new file alternate ``reps`` times:
    what a CLI command or a short-lived job pays on every start.
    """
    bare: list[float] = []
    existing: list[float] = []
    new: list[float] = []
    with scratch_dir() as tmp:
        existing_path = os.path.join(tmp, "existing.db")
        subprocess.run([sys.executable, "-c", statement.format(path=existing_path)], check=True)
        for rep in range(reps):
            runs = (
                ("pass", bare),
                (statement.format(path=existing_path), existing),
                (statement.format(path=os.path.join(tmp, f"new{rep}.db")), new),
            )
            for code, sink in runs:
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], check=True)
                sink.append(time.perf_counter() - start)
    open_existing = max(statistics.median(existing) - statistics.median(bare), 0.0)
    return {
        "seconds": open_existing,
        "new_store_ms": max(statistics.median(new) - statistics.median(bare), 0.0) * 1e3,
        "bare_ms": statistics.median(bare) * 1e3,
    }


def _finish(metrics: Mapping[str, float], n: int) -> dict[str, float]:
    out = dict(metrics)
    seconds = out.get("seconds")
    if seconds is not None:
        out.setdefault("us_per_task", seconds / n * 1e6)
        out.setdefault("ns_per_call", seconds / n * 1e9)
        out.setdefault("ms", seconds * 1e3)
    out.setdefault("rss_mb", peak_rss_mb())
    return out


def main(impls: Mapping[str, Impl], argv: list[str] | None = None) -> int:
    """Entry point of a worker script; see the module docstring."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--list"]:
        print(json.dumps(sorted(impls)))
        return 0
    if len(args) != 2 or args[0] not in impls:
        print(f"usage: --list | WORKLOAD N   (workloads: {', '.join(sorted(impls))})")
        return 2
    name, n = args[0], int(args[1])
    metrics = _finish(impls[name](n), n)
    sys.stdout.flush()
    # The JSON line is last on stdout; libraries may have printed before it.
    print(json.dumps({"workload": name, "n": n, "metrics": metrics}), flush=True)
    return 0

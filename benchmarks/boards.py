"""Job boards: post + claim + complete per second, and post-to-claim latency.

Usage::

    .venv/bin/python benchmarks/boards.py [--jobs 2000] [--samples 200] [--only sqlite,postgresql]

Two figures per board:

* **throughput**: one loop posting a no-op job, claiming it and completing it,
  ``--jobs`` times (after a warm-up); jobs per second over the whole loop.
* **floor** (SQL boards): in blocks interleaved with the throughput loop, the
  same service's plain driver commits one-row INSERTs, durably, one at a time;
  a job costs three commits (post, claim, complete), so a third of that rate
  is what the database allows the loop on this machine at this moment (other
  work on a shared machine moves both figures alike).
* **backlog claim+complete** (a busy conductor): ``--jobs`` jobs posted first,
  untimed, then one loop claims a job and completes it while claiming the
  next (``Claim.complete_and_claim``: one round trip and one commit a job on
  PostgreSQL, SQLite and Redis) until the board is empty; jobs per second.
  TaskFlow's figure beside it (where measured) is its conductor's: iterate
  the unclaimed jobs, claim and consume each.
* **post-to-claim latency**: a claimer blocked in ``claim(wait=...)`` in
  another process (a thread for the in-process memory board); the parent posts
  one job at a time and the claimer reports when ``claim()`` returned. Latency
  is from just before ``post()`` is called to that moment (wall clock; both
  processes are on this machine), median and 95th percentile over ``--samples``.

Boards: memory, SQLite (a file in a temporary directory), PostgreSQL and
MariaDB (a fresh schema/database of ``test`` on loopback, dropped afterwards).
Other boards plug in as ``benchmarks/boards_<kind>.py`` modules defining
``KINDS`` (name → context manager yielding a board URL) and optionally
``PEERS`` (name → a function returning TaskFlow's figures on the same service,
as a dict like the one :func:`measure` returns).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import multiprocessing
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _scratch_db import MYSQL_HOST, mysql_database, postgres_schema

from steadyflow.jobs import JobBoard, open_board

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager
    from multiprocessing.connection import Connection

BENCH_DIR = Path(__file__).resolve().parent
FACTORY = "bench.flows:noop"  # never imported: the jobs are not run
TTL = 60.0
WARMUP = 50


@contextlib.contextmanager
def _memory() -> Iterator[str]:
    yield "memory://"


@contextlib.contextmanager
def _sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{directory}/jobs.db"


KINDS: dict[str, Callable[[], AbstractContextManager[str]]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "postgresql": postgres_schema,
    "mariadb": mysql_database,
}
"""Board name → a context manager yielding the URL of a fresh, empty board service."""


@contextlib.contextmanager
def _sqlite_floor(url: str) -> Iterator[Callable[[], object]]:
    import sqlite3

    db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE floor (id INTEGER PRIMARY KEY, v INTEGER)")
    try:
        yield lambda: db.execute("INSERT INTO floor (v) VALUES (1)")
    finally:
        db.close()


@contextlib.contextmanager
def _postgres_floor(url: str) -> Iterator[Callable[[], object]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE floor (id serial PRIMARY KEY, v int)")
        yield lambda: db.execute("INSERT INTO floor (v) VALUES (1)")


@contextlib.contextmanager
def _mysql_floor(url: str) -> Iterator[Callable[[], object]]:
    import pymysql

    database = url.rsplit("/", 1)[1]
    db = pymysql.connect(host=MYSQL_HOST, user="root", database=database, autocommit=True)
    try:
        with db.cursor() as cursor:
            cursor.execute("CREATE TABLE floor (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        cursor = db.cursor()
        yield lambda: cursor.execute("INSERT INTO floor (v) VALUES (1)")
    finally:
        db.close()


FLOORS: dict[str, Callable[[str], AbstractContextManager[Callable[[], object]]]] = {
    "sqlite": _sqlite_floor,
    "postgresql": _postgres_floor,
    "mariadb": _mysql_floor,
}
"""Board name → a context manager yielding "commit one row" on the board's service."""

PEERS: dict[str, Callable[[argparse.Namespace], dict[str, float]]] = {}
"""Board name → TaskFlow's figures on the same service (added by boards_<kind>.py)."""


def _load_plugins() -> None:
    sys.path.insert(0, str(BENCH_DIR))
    for path in sorted(BENCH_DIR.glob("boards_*.py")):
        module = importlib.import_module(path.stem)
        KINDS.update(getattr(module, "KINDS", {}))
        PEERS.update(getattr(module, "PEERS", {}))


# -- throughput ---------------------------------------------------------------------------


BLOCK = 100


def throughput(
    board: JobBoard, jobs: int, commit: Callable[[], object] | None = None
) -> tuple[float, float | None]:
    """Jobs per second through post, claim and complete, one after the other.

    With ``commit``, also the floor: a third of the plain commits per second,
    timed in blocks alternating with the loop's.
    """
    for i in range(WARMUP):
        _cycle(board, i)
    spent = floor_spent = 0.0
    for block in range(0, jobs, BLOCK):
        started = time.perf_counter()
        for i in range(block, min(jobs, block + BLOCK)):
            _cycle(board, i)
        spent += time.perf_counter() - started
        if commit is not None:
            started = time.perf_counter()
            for _ in range(3 * BLOCK):
                commit()
            floor_spent += time.perf_counter() - started
    floor = None if commit is None else (jobs // BLOCK * BLOCK) / floor_spent
    return jobs / spent, floor


def _cycle(board: JobBoard, i: int) -> None:
    board.post(f"noop-{i}", factory=FACTORY)
    claim = board.claim("bench", TTL)
    assert claim is not None, "the job just posted was not claimable"
    claim.complete()


def drain(board: JobBoard, jobs: int) -> float:
    """Jobs per second one conductor loop claims and completes from a backlog.

    The backlog is posted first, untimed; the loop then claims a job and
    completes it while claiming the next (``Claim.complete_and_claim``), as a
    busy conductor does, until the board is empty.
    """
    for i in range(jobs):
        board.post(f"backlog-{i}", factory=FACTORY)
    done = 0
    started = time.perf_counter()
    claim = board.claim("bench", TTL)
    while claim is not None:
        done += 1
        claim = claim.complete_and_claim()
    spent = time.perf_counter() - started
    if done != jobs:
        raise RuntimeError(f"the loop drained {done} of the {jobs} jobs posted")
    return jobs / spent


# -- latency ------------------------------------------------------------------------------


def _claimer(url: str, name: str, samples: int, report: Connection) -> None:
    """Claim ``samples`` jobs as they come, reporting when each claim returned."""
    with open_board(url, name=name) as board:
        report.send("ready")
        for _ in range(samples):
            claim = board.claim("claimer", TTL, wait=30)
            if claim is None:
                report.send(None)
                return
            report.send(time.time())
            claim.complete()


def latency(board: JobBoard, url: str, samples: int) -> list[float]:
    """Seconds from post to a waiting claimer holding the job, ``samples`` times."""
    parent, child = multiprocessing.Pipe()
    if url.startswith("memory://"):
        worker: Any = threading.Thread(target=_memory_claimer, args=(board, samples, child))
    else:
        context = multiprocessing.get_context("spawn")
        worker = context.Process(target=_claimer, args=(url, board.name, samples, child))
    worker.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the claimer did not start")
        parent.recv()
        delays = []
        for i in range(samples):
            # Let the claimer settle into its wait, at an irregular phase of any poll.
            time.sleep(random.uniform(0.03, 0.06))
            posted = time.time()
            board.post(f"latency-{i}", factory=FACTORY)
            if not parent.poll(30):
                raise RuntimeError("the claimer did not report a claim within 30 s")
            claimed_at = parent.recv()
            if claimed_at is None:
                raise RuntimeError("the claimer gave up waiting")
            delays.append(claimed_at - posted)
        return delays
    finally:
        worker.join(timeout=30)


def _memory_claimer(board: JobBoard, samples: int, report: Connection) -> None:
    report.send("ready")
    for _ in range(samples):
        claim = board.claim("claimer", TTL, wait=30)
        report.send(None if claim is None else time.time())
        if claim is None:
            return
        claim.complete()


# -- the run ------------------------------------------------------------------------------


def measure(kind: str, args: argparse.Namespace) -> dict[str, float]:
    """One board's figures: jobs/s, and latency median and p95 in milliseconds."""
    with KINDS[kind]() as url:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        with contextlib.ExitStack() as stack:
            board = stack.enter_context(open_board(url, name=name))
            floor = FLOORS.get(kind)
            commit = None if floor is None else stack.enter_context(floor(url))
            rate, floor_rate = throughput(board, args.jobs, commit)
        with open_board(url, name=name + "-drain") as board:
            drained = drain(board, args.jobs)
        with open_board(url, name=name + "-latency") as board:
            delays = latency(board, url, args.samples)
    delays.sort()
    return {
        "jobs_per_s": rate,
        "drain_jobs_per_s": drained,
        "floor_jobs_per_s": float("nan") if floor_rate is None else floor_rate,
        "latency_median_ms": statistics.median(delays) * 1000,
        "latency_p95_ms": delays[max(0, round(0.95 * len(delays)) - 1)] * 1000,
    }


def main(argv: list[str] | None = None) -> None:
    _load_plugins()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs in the throughput loop")
    parser.add_argument("--samples", type=int, default=200, help="post-to-claim samples")
    parser.add_argument("--only", help="comma-separated boards (default: all)")
    parser.add_argument("--no-peers", action="store_true", help="skip TaskFlow's boards")
    args = parser.parse_args(argv)
    kinds = list(KINDS) if not args.only else [k.strip() for k in args.only.split(",")]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        parser.error(f"unknown boards {unknown}; known: {', '.join(KINDS)}")
    print(f"{args.jobs} jobs for throughput, {args.samples} post-to-claim samples")
    print(
        f"{'board':<22} {'post+claim+complete/s':>22} {'floor/s':>8} "
        f"{'backlog claim+complete/s':>25} {'median ms':>10} {'p95 ms':>8}"
    )
    for kind in kinds:
        rows = [(f"steadyflow {kind}", measure(kind, args))]
        if not args.no_peers and kind in PEERS:
            rows.append((f"TaskFlow {kind}", PEERS[kind](args)))
        for label, figures in rows:
            floor = figures.get("floor_jobs_per_s", float("nan"))
            drained = figures.get("drain_jobs_per_s", float("nan"))
            print(
                f"{label:<22} {figures['jobs_per_s']:>22,.0f} "
                f"{'-' if floor != floor else f'{floor:,.0f}':>8} "
                f"{'-' if drained != drained else f'{drained:,.0f}':>25} "
                f"{figures['latency_median_ms']:>10.1f} {figures['latency_p95_ms']:>8.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

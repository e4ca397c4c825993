"""How fast ``steadyflow flows list`` answers on a large store (issue 13, item 5).

Fills a store with N flows (default 100,000; two atoms each, states mixed,
names varied, created over 30 days), then times:

- end to end: ``python -m steadyflow flows list`` as a fresh process (wall
  clock, including interpreter start-up and imports), with and without
  filters, a deep page reached by cursor, and ``flows show``; target < 0.5 s;
- in process: :func:`steadyflow.persistence.query.list_flows` for the first
  page and for a page deep in the store (keyset: should cost the same), and
  :func:`count_flows`; target <= 200 ms per page.

SQLite by default; ``--url`` for another store (e.g. a PostgreSQL or
MariaDB database of its own: it must be empty, flows are added to it).

Usage::

    python benchmarks/cli_list.py                   # 100,000 flows in a temp SQLite file
    python benchmarks/cli_list.py --flows 10000 --reps 5
    python benchmarks/cli_list.py --url postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import steadyflow  # noqa: F401  (imported once here so the first timing is not an import)
from steadyflow.persistence import AtomDetail, FlowDetail, LogBook, open_backend
from steadyflow.persistence.query import count_flows, list_flows
from steadyflow.states import AtomState, FlowState

STATES = (
    [FlowState.SUCCESS] * 90
    + [FlowState.FAILURE] * 3
    + [FlowState.REVERTED] * 4
    + [FlowState.RUNNING] * 2
    + [FlowState.SUSPENDED]
)
NAMES = ("boot-vm", "resize-disk", "charge-order", "ship-order", "rotate-keys")
BATCH = 2_000


def _flows(first: int, last: int, flows: int) -> list[FlowDetail]:
    start = time.time() - 30 * 86_400
    step = 30 * 86_400 / flows
    details = []
    for index in range(first, last):
        created = start + index * step
        atoms = [
            AtomDetail(
                name=f"step{n}",
                state=AtomState.SUCCESS,
                result={"n": n},
                meta={"attempt": 1},
                created_at=created,
                updated_at=created + 1,
            )
            for n in range(2)
        ]
        details.append(
            FlowDetail(
                uuid=f"flow-{index:07d}",
                name=NAMES[index % len(NAMES)],
                state=STATES[index % len(STATES)],
                meta={"store": {"tenant": index % 97}},
                atoms={atom.name: atom for atom in atoms},
                created_at=created,
                updated_at=created + 2,
            )
        )
    return details


def fill(url: str, flows: int) -> None:
    """Store ``flows`` flows in logbooks of BATCH.

    Through the public Backend API, except on a database server, where rows
    encoded by the backends' own codec are bulk-inserted (saving 100,000 flows
    one upsert at a time would take the better part of an hour there).
    """
    with open_backend(url) as backend:
        for first in range(0, flows, BATCH):
            book = LogBook(uuid=f"book-{first // BATCH}", name="bench")
            details = _flows(first, min(first + BATCH, flows), flows)
            if getattr(backend, "family", "sqlite") == "sqlite":
                backend.save_logbook(book.with_flows(*details))
            else:
                _bulk_insert(backend, book, details)


def _bulk_insert(backend: object, book: LogBook, details: list[FlowDetail]) -> None:
    from sqlalchemy import create_engine, insert

    from steadyflow.persistence._rows import atom_to_row, book_to_row, flow_to_row
    from steadyflow.persistence.sql._schema import ATOMS, FLOWS, LOGBOOKS

    serializer = backend.serializer  # type: ignore[attr-defined]
    flow_rows = [{**flow_to_row(book.uuid, f, serializer), "version": 1} for f in details]
    atom_rows = [atom_to_row(f.uuid, a, serializer) for f in details for a in f.atoms.values()]
    # An engine of our own: the backend's bounds how long a session may idle inside a
    # write transaction, which building a large bulk insert on a busy machine can exceed.
    engine = create_engine(backend.engine.url)  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(insert(LOGBOOKS), [book_to_row(book, serializer)])
        connection.execute(insert(FLOWS), flow_rows)
        connection.execute(insert(ATOMS), atom_rows)
    engine.dispose()


def _cli(url: str, *argv: str) -> float:
    env = {**os.environ, "STEADYFLOW_BACKEND": url, "NO_COLOR": "1"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "steadyflow", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"steadyflow {' '.join(argv)} failed: {done.stderr}")
    return elapsed


def _median(fn: Callable[[], object], reps: int) -> float:
    """The median wall time of ``fn()`` (a float it returns is taken as its own time)."""
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        value = fn()
        elapsed = time.perf_counter() - started
        times.append(value if isinstance(value, float) else elapsed)
    return statistics.median(times)


def _report(label: str, seconds: float, target: float) -> None:
    verdict = "met" if seconds < target else "MISSED"
    print(f"  {label:<52} {seconds * 1000:8.1f} ms   (target < {target * 1000:.0f} ms: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=7, help="repetitions; the median is shown")
    parser.add_argument("--url", help="an empty store to fill (default: a temp SQLite file)")
    parser.add_argument(
        "--no-process", action="store_true", help="skip the end-to-end (fresh process) timings"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sf-cli-bench-") as scratch:
        url = args.url or f"sqlite:///{Path(scratch) / 'steadyflow.db'}"
        started = time.perf_counter()
        fill(url, args.flows)
        print(f"stored {args.flows:,} flows in {time.perf_counter() - started:.1f} s ({url})")

        with open_backend(url) as backend:
            deep = None
            page = list_flows(backend, limit=1000)
            for _ in range(args.flows // 2 // 1000):
                deep = page.next_cursor
                page = list_flows(backend, limit=1000, cursor=deep)
            print("in process (median):")
            _report(
                "list_flows, first page of 20",
                _median(lambda: list_flows(backend, limit=20), args.reps),
                0.2,
            )
            _report(
                "list_flows, page of 20 half-way down (cursor)",
                _median(lambda: list_flows(backend, limit=20, cursor=deep), args.reps),
                0.2,
            )
            _report(
                "list_flows, state FAILURE, name 'order'",
                _median(
                    lambda: list_flows(backend, states=["FAILURE"], name="order", limit=20),
                    args.reps,
                ),
                0.2,
            )
            _report(
                "count_flows (all states)", _median(lambda: count_flows(backend), args.reps), 0.2
            )

        if args.no_process:
            return
        print("end to end, a fresh `python -m steadyflow` process (median):")
        bare = _median(lambda: _timed_process([sys.executable, "-c", "pass"]), args.reps)
        print(f"  {'(a bare python -c pass, for reference)':<52} {bare * 1000:8.1f} ms")
        commands: tuple[tuple[str, tuple[str, ...]], ...] = (
            ("flows list", ("flows", "list")),
            ("flows list --json --limit 100", ("flows", "list", "--json", "--limit", "100")),
            (
                "flows list --state FAILURE --name order",
                ("flows", "list", "--state", "FAILURE", "--name", "order"),
            ),
            ("flows list --since 1d", ("flows", "list", "--since", "1d")),
            ("flows list --cursor <half-way down>", ("flows", "list", "--cursor", str(deep))),
            (
                f"flows show flow-{args.flows // 2:07d}",
                ("flows", "show", f"flow-{args.flows // 2:07d}"),
            ),
        )
        for label, argv in commands:
            _report(label, _median(functools.partial(_cli, url, *argv), args.reps), 0.5)


def _timed_process(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()

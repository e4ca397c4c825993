"""What fencing costs on the hot path: fenced vs unfenced ``save_atom_details`` batches.

Usage::

    .venv/bin/python benchmarks/fencing.py [--batches 1000] [--atoms 5] [--no-servers]

Times the same batches with ``epoch=None`` and with the lease's epoch, in
alternating blocks (so drift on a shared machine hits both alike), on SQLite
(a file in a temporary directory), PostgreSQL and MariaDB (each in a fresh
schema/database of ``test`` on loopback, dropped afterwards). Prints the
median and mean per batch and the fenced/unfenced ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from typing import TYPE_CHECKING

from _scratch_db import mysql_database, postgres_schema

from steadyflow.persistence import AtomDetail, Backend, FlowDetail, LogBook, open_backend
from steadyflow.states import AtomState

if TYPE_CHECKING:
    from collections.abc import Iterator

BLOCK = 10


@contextlib.contextmanager
def _sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{directory}/bench.db"


def _measure(backend: Backend, batches: int, atoms: int) -> dict[str, list[float]]:
    book = LogBook(name="bench")
    backend.save_logbook(book)
    flow = backend.save_flow_detail(book.uuid, FlowDetail(name="bench"))
    lease = backend.acquire_lease(flow.uuid, "bench", 3600.0)
    timings: dict[str, list[float]] = {"unfenced": [], "fenced": []}
    for block in range(0, batches, BLOCK):
        for mode, epoch in (("unfenced", None), ("fenced", lease.epoch)):
            for n in range(block, min(batches, block + BLOCK)):
                batch = [
                    AtomDetail(name=f"a{i}", state=AtomState.SUCCESS, result={"n": n, "i": i})
                    for i in range(atoms)
                ]
                started = time.perf_counter()
                backend.save_atom_details(flow.uuid, batch, epoch=epoch)
                timings[mode].append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--atoms", type=int, default=5)
    parser.add_argument("--no-servers", action="store_true", help="SQLite only")
    args = parser.parse_args()
    stores = [("sqlite", _sqlite)]
    if not args.no_servers:
        stores += [("postgresql", postgres_schema), ("mariadb", mysql_database)]
    print(f"{args.batches} batches of {args.atoms} atoms each, per mode")
    print(f"{'store':<11} {'mode':<9} {'median µs':>10} {'mean µs':>9}")
    for name, namespace in stores:
        with namespace() as url, open_backend(url) as backend:
            timings = _measure(backend, args.batches, args.atoms)
        medians = {mode: statistics.median(values) * 1e6 for mode, values in timings.items()}
        for mode, values in timings.items():
            mean = statistics.fmean(values) * 1e6
            print(f"{name:<11} {mode:<9} {medians[mode]:>10.0f} {mean:>9.0f}")
        print(
            f"{name:<11} fenced/unfenced median ratio {medians['fenced'] / medians['unfenced']:.2f}"
        )


if __name__ == "__main__":
    main()

"""Server time of the dashboard's pages on a store of 100,000 flows.

Usage::

    .venv/bin/python benchmarks/dashboard_pages.py [--flows 100000] [--reps 20]
        [--on sqlite|postgresql|mysql] [--store PATH]

Fills a store (SQLite: a file in a temporary directory, or ``--store PATH``,
kept and reused when it already holds the flows; PostgreSQL and MariaDB: a
fresh schema / database of ``test`` on loopback, dropped afterwards) with
flows of a few names
in every state, a few with atoms, then starts the dashboard on a free
loopback port and requests each page ``--reps`` times. The server time is
the ``Server-Timing`` header the app adds (request in, first byte out);
the wall time includes HTTP on loopback. Prints the median and the worst of
each, and exits 1 when a page's median server time is over the 200 ms budget.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from _scratch_db import mysql_database, postgres_schema

from steadyflow.persistence import AtomDetail, Backend, FlowDetail, LogBook, open_backend
from steadyflow.states import AtomState, FlowState

BUDGET_MS = 200.0
NAMES = ("billing", "shipping", "provision-vm", "nightly-report", "refund")
STATES = tuple(FlowState)
BATCH = 5_000


def fill(backend: Backend, count: int) -> None:
    """Store ``count`` flows, oldest first, a millisecond apart; every 1,000th has 5 atoms."""
    start = time.time() - count / 1000
    for first in range(0, count, BATCH):
        flows = {}
        for i in range(first, min(first + BATCH, count)):
            at = start + i / 1000
            atoms = {}
            if i % 1000 == 0:
                atoms = {
                    f"step-{k}": AtomDetail(
                        name=f"step-{k}", state=AtomState.SUCCESS, result={"n": k}, created_at=at
                    )
                    for k in range(5)
                }
            uuid = f"flow-{i:07d}"
            flows[uuid] = FlowDetail(
                uuid=uuid,
                name=NAMES[i % len(NAMES)],
                state=STATES[(i // 7) % len(STATES)],
                atoms=atoms,
                created_at=at,
                updated_at=at,
            )
        backend.save_logbook(LogBook(uuid=f"bench-{first // BATCH}", name="bench", flows=flows))


def stored_count(backend: Backend) -> int:
    from steadyflow.persistence.query import count_flows

    return sum(count_flows(backend).values())


@contextmanager
def serving(backend: Backend) -> Iterator[int]:
    import uvicorn

    from steadyflow.dashboard import create_app

    app = create_app(backend)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield port
    finally:
        app.state.stop_streams()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def get(port: int, path: str) -> tuple[float, float, str]:
    """(server ms, wall ms, body) of one GET."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode()
        wall = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]}")
        timing = response.getheader("server-timing") or ""
    finally:
        connection.close()
    found = re.search(r"dur=([0-9.]+)", timing)
    if found is None:
        raise RuntimeError(f"GET {path}: no Server-Timing header")
    return float(found.group(1)), wall, body


def deep_page(port: int, hops: int) -> str:
    """The path of the listing page ``hops`` pages down (following "Older" links)."""
    path = "/"
    for _ in range(hops):
        _, _, body = get(port, path)
        found = re.search(r'id="next-page" href="([^"]+)"', body)
        if found is None:
            break
        path = found.group(1).replace("&amp;", "&")
    return path


@contextlib.contextmanager
def _sqlite(path: str | None) -> Iterator[str]:
    if path is not None:
        yield f"sqlite:///{os.path.abspath(path)}"
        return
    with tempfile.TemporaryDirectory() as scratch:
        yield f"sqlite:///{scratch}/dashboard-bench.db"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--flows", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--on", choices=("sqlite", "postgresql", "mysql"), default="sqlite")
    parser.add_argument("--store", default=None, help="SQLite file to fill (and keep)")
    options = parser.parse_args()
    if options.on == "postgresql":
        place = postgres_schema("sf_dash")
    elif options.on == "mysql":
        place = mysql_database("sf_dash")
    else:
        place = _sqlite(options.store)
    with place as url:
        backend = open_backend(url)
        try:
            held = stored_count(backend)
            if held not in (0, options.flows):
                raise SystemExit(f"{url} holds {held} flows, not {options.flows}; remove it")
            if held == 0:
                started = time.perf_counter()
                fill(backend, options.flows)
                print(f"stored {options.flows} flows in {time.perf_counter() - started:.1f} s")
            print(f"store: {options.on}")
            return measure(backend, options.flows, options.reps)
        finally:
            backend.close()


def measure(backend: Backend, flows: int, reps: int) -> int:
    with serving(backend) as port:
        shown = f"flow-{flows - 1 - (flows // 2):07d}"
        pages = {
            "flows, first page": "/",
            "flows, page 50 (keyset)": deep_page(port, 49),
            "flows, state+name filter": "/?state=FAILURE&state=REVERTED&name=bill",
            "flows, name glob": "/?name=prov*-vm",
            "flows, name matching none": "/?name=no-such-flow",
            "flows, id prefix": "/?id=flow-00420",
            "one flow (5 atoms)": f"/flows/flow-{(flows // 2000) * 1000:07d}",
            "one flow (no atoms)": f"/flows/{shown}",
        }
        print(f"{flows} flows, {reps} requests per page; server time = Server-Timing header\n")
        print(f"{'page':28} {'server median':>14} {'server max':>11} {'wall median':>12}")
        over = False
        for label, path in pages.items():
            get(port, path)  # warm the page's template and the store's cache
            samples = [get(port, path) for _ in range(reps)]
            server = [s for s, _, _ in samples]
            wall = [w for _, w, _ in samples]
            median = statistics.median(server)
            over = over or median > BUDGET_MS
            print(
                f"{label:28} {median:11.1f} ms {max(server):8.1f} ms "
                f"{statistics.median(wall):9.1f} ms"
            )
    print(f"\nbudget: {BUDGET_MS:.0f} ms server time per page: {'OVER' if over else 'met'}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())

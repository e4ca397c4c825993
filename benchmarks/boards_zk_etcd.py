"""ZooKeeper and etcd job boards beside TaskFlow's: post + claim + complete per second,
and post-to-claim latency with a waiting claimer.

Usage::

    .venv/bin/python benchmarks/boards_zk_etcd.py [--jobs 1000] [--samples 100]
        [--only zookeeper,etcd] [--no-peers]

Needs ZooKeeper on 127.0.0.1:2181 and etcd on 127.0.0.1:2379 (``sh .ci/services.sh``).

* **throughput**: one loop posting a no-op job, claiming it and completing it,
  ``--jobs`` times after a warm-up; jobs per second over the whole loop. TaskFlow's
  loop posts, claims the job it just posted (its boards claim a given job, not
  the next one) and consumes it.
* **plain writes/s**: the same client library writing one key, one write at a time,
  just before the loop: what the service and this machine allow at that moment (a
  steadyflow cycle costs 3 writes on either service, plus on ZooKeeper one round
  trip reading ready/ and held/ together (and the job node, for a job another board
  object posted), and on etcd one read with a lease keep-alive beside it). The
  machine is shared: read each board beside its floor and beside TaskFlow's row,
  measured right after it.
* **post-to-claim latency**: a claimer in another process waits on the board
  (steadyflow: ``claim(wait=...)``; TaskFlow: ``board.wait()`` then claiming the
  first unclaimed job); the parent posts one job at a time and the claimer
  reports when its claim returned. Wall clock on one machine; median and 95th
  percentile over ``--samples``.

With ``--rounds N`` the two libraries take turns N times on each service and each
figure is the median over the rounds (latency: over all samples): the machine is
shared, and turns spread its load over both alike.

Also a plug-in of benchmarks/boards.py: ``KINDS`` and ``PEERS`` below.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from steadyflow.jobs import JobBoard, open_board

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager
    from multiprocessing.connection import Connection

BENCH_DIR = Path(__file__).resolve().parent
URLS = {
    "zookeeper": "zookeeper://127.0.0.1:2181/steadyflow-bench",
    "etcd": "etcd://127.0.0.1:2379/steadyflow-bench",
}
FACTORY = "bench.flows:noop"  # never imported: the jobs are not run
TTL = 60.0
WARMUP = 30


@contextlib.contextmanager
def _site(kind: str) -> Iterator[str]:
    yield URLS[kind]


def _destroy(url: str, name: str) -> None:
    with open_board(url, name=name) as board:
        board.destroy()  # type: ignore[attr-defined]


def throughput(board: JobBoard, jobs: int) -> float:
    for i in range(WARMUP):
        _cycle(board, i)
    began = time.perf_counter()
    for i in range(jobs):
        _cycle(board, i)
    return jobs / (time.perf_counter() - began)


def _cycle(board: JobBoard, i: int) -> None:
    board.post(f"noop-{i}", factory=FACTORY)
    claim = board.claim("bench", TTL)
    assert claim is not None
    claim.complete()


def _claimer(url: str, name: str, samples: int, report: Connection) -> None:
    with open_board(url, name=name) as board:
        report.send("ready")
        for _ in range(samples):
            claim = board.claim("waiter", TTL, wait=30)
            claimed_at = time.time()
            assert claim is not None
            report.send(claimed_at)
            claim.complete()


def latency(url: str, name: str, samples: int) -> list[float]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_claimer, args=(url, name, samples, theirs))
    child.start()
    delays = []
    try:
        with open_board(url, name=name) as board:
            assert ours.recv() == "ready"
            for i in range(samples):
                time.sleep(0.05)  # let the claimer go back to waiting
                posted_at = time.time()
                board.post(f"ping-{i}", factory=FACTORY)
                if not ours.poll(30):
                    raise RuntimeError("the claimer did not claim within 30 s")
                delays.append(ours.recv() - posted_at)
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    return delays


def plain_writes(kind: str, count: int = 300) -> float:
    """One key written ``count`` times, one write at a time, with the board's client library."""
    if kind == "zookeeper":
        from kazoo.client import KazooClient

        zk = KazooClient(hosts="127.0.0.1:2181")
        zk.start(timeout=10)
        path = f"/steadyflow-bench-floor-{uuid.uuid4().hex[:8]}"
        zk.create(path, b"")
        began = time.perf_counter()
        for _ in range(count):
            zk.set(path, b"x")
        elapsed = time.perf_counter() - began
        zk.delete(path)
        zk.stop()
        zk.close()
        return count / elapsed
    import etcd3gw

    etcd = etcd3gw.Etcd3Client(host="127.0.0.1", port=2379, api_path="/v3/")
    key = f"/steadyflow-bench-floor-{uuid.uuid4().hex[:8]}"
    began = time.perf_counter()
    for _ in range(count):
        etcd.put(key, "x")
    elapsed = time.perf_counter() - began
    etcd.delete(key)
    return count / elapsed


def measure(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    url = URLS[kind]
    name = f"bench-{uuid.uuid4().hex[:8]}"
    floor = plain_writes(kind)
    try:
        with open_board(url, name=name) as board:
            rate = throughput(board, args.jobs)
        delays = sorted(latency(url, name + "-latency", args.samples))
    finally:
        _destroy(url, name)
        _destroy(url, name + "-latency")
    return {**_figures(rate, delays), "plain_writes_per_s": floor, "delays": delays}


def _figures(rate: float, delays: list[float]) -> dict[str, float]:
    return {
        "jobs_per_s": rate,
        "latency_median_ms": statistics.median(delays) * 1000,
        "latency_p95_ms": delays[max(0, round(0.95 * len(delays)) - 1)] * 1000,
    }


def taskflow(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """TaskFlow's board on the same service, run in benchmarks/.venv-peers."""
    sys.path.insert(0, str(BENCH_DIR))
    from _env import ensure_peers_venv

    env = ensure_peers_venv()
    if env.python is None:
        raise RuntimeError(env.problem)
    script = BENCH_DIR / "peers" / "taskflow_boards.py"
    done = subprocess.run(
        [str(env.python), str(script), kind, str(args.jobs), str(args.samples)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    delays = sorted(figures["delays"])
    return {
        **_figures(figures["jobs_per_s"], delays),
        "plain_writes_per_s": plain_writes(kind),
        "delays": delays,
    }


#: The plug-in interface of benchmarks/boards.py.
KINDS: dict[str, Callable[[], AbstractContextManager[str]]] = {
    "zookeeper": lambda: _site("zookeeper"),
    "etcd": lambda: _site("etcd"),
}
PEERS: dict[str, Callable[[argparse.Namespace], dict[str, float]]] = {
    "zookeeper": lambda args: taskflow("zookeeper", args),
    "etcd": lambda args: taskflow("etcd", args),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs in the throughput loop")
    parser.add_argument("--samples", type=int, default=100, help="post-to-claim samples")
    parser.add_argument("--only", help="comma-separated boards (default: zookeeper,etcd)")
    parser.add_argument("--no-peers", action="store_true", help="skip TaskFlow's boards")
    parser.add_argument("--rounds", type=int, default=3, help="turns each library takes")
    args = parser.parse_args(argv)
    kinds = list(URLS) if not args.only else [k.strip() for k in args.only.split(",")]
    print(
        f"{args.jobs} jobs for throughput, {args.samples} post-to-claim samples, "
        f"{args.rounds} rounds"
    )
    print(
        f"{'board':<22} {'post+claim+complete/s':>22} {'plain writes/s':>15} "
        f"{'median ms':>10} {'p95 ms':>8}"
    )
    for kind in kinds:
        ours: list[dict[str, Any]] = []
        theirs: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            ours.append(measure(kind, args))
            if args.no_peers:
                continue
            try:
                theirs.append(taskflow(kind, args))
            except (subprocess.CalledProcessError, RuntimeError) as exc:
                why = getattr(exc, "stderr", None) or str(exc)
                print(f"TaskFlow {kind} failed: {why.strip().splitlines()[-1]}", flush=True)
        _row(f"steadyflow {kind}", _median(ours))
        if theirs:
            _row(f"TaskFlow {kind}", _median(theirs))


def _median(rounds: list[dict[str, Any]]) -> dict[str, float]:
    delays = sorted(d for figures in rounds for d in figures["delays"])
    return {
        **_figures(statistics.median(f["jobs_per_s"] for f in rounds), delays),
        "plain_writes_per_s": statistics.median(f["plain_writes_per_s"] for f in rounds),
    }


def _row(label: str, figures: dict[str, Any]) -> None:
    print(
        f"{label:<22} {figures['jobs_per_s']:>22,.0f} "
        f"{figures.get('plain_writes_per_s', float('nan')):>15,.0f} "
        f"{figures['latency_median_ms']:>10.1f} {figures['latency_p95_ms']:>8.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()

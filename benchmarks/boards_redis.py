"""The Redis job board beside TaskFlow 6.5's, on the same Redis server.

    .venv/bin/python benchmarks/boards_redis.py [--url redis://127.0.0.1:6379/0]
        [--jobs 3000] [--reps 5] [--samples 100] [--no-peers] [--json]

Two figures per board:

* throughput: post + claim + complete of no-op jobs, one loop, one process
  (TaskFlow: post, find it with ``iterjobs(only_unclaimed=True)``, claim,
  consume, as its conductor does; and its best case, claiming the job object
  ``post`` returned). Each rep runs on a fresh board after a warm-up; the
  median and best rep are reported. Target: at least 4,000/s.
* post-to-claim latency: a claimer waits on the board (ours: ``claim(wait=)``,
  woken by pub/sub; TaskFlow's: ``wait()``, polling with backoff up to 1 s)
  while the poster posts one job at a time, 20-200 ms apart; the time from
  just before ``post`` to the claim returning, median and p95. Target: a
  median of at most 20 ms.

Beside the loop's rate, a floor: three bare PINGs a job on a raw connection,
timed in blocks alternating with the loop's, is what the machine allows at
that moment for three round trips a job and nothing else.

TaskFlow runs in benchmarks/.venv-peers (peers/taskflow_boards_redis.py);
every board's keys are deleted afterwards. The machine is shared: the figures
move with its load, so compare boards measured in the same run.

benchmarks/boards.py also runs this board (``KINDS``) and TaskFlow's
(``PEERS``) in its own table, with its own method (a claimer process).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis
from _env import BENCH_DIR, cpu_model, ensure_peers_venv, git_revision, package_version

from steadyflow.jobs import Claim
from steadyflow.jobs.redis import RedisBoard

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager

TTL = 30.0
FACTORY = "bench.flows:noop"
TARGET_PER_S = 4000
TARGET_MEDIAN_MS = 20.0


def _fresh(url: str) -> RedisBoard:
    return RedisBoard.from_url(url, name=f"sfbench-{uuid.uuid4().hex[:8]}")


BLOCK = 100


def _cycle(board: RedisBoard, i: int) -> None:
    board.post(f"noop-{i}", factory=FACTORY)
    claim = board.claim("bench", TTL)
    if claim is None:
        raise RuntimeError("the posted job could not be claimed")
    claim.complete()


def _round_trip(url: str) -> Callable[[], object]:
    """One bare PING on a raw connection: the cheapest round trip redis-py makes."""
    client = redis.Redis.from_url(url)
    pool = client.connection_pool
    connection = pool.connection_class(**pool.connection_kwargs)

    def ping() -> object:
        connection.send_command("PING")
        return connection.read_response()

    return ping


def _loop(board: RedisBoard, n: int, ping: Callable[[], object]) -> tuple[float, float]:
    """(jobs/s, floor jobs/s): the loop and three bare round trips a job, in alternating blocks.

    The floor is what the machine allows at this moment for three round trips a
    job and nothing else; on a shared machine both figures move together.
    """
    spent = floor_spent = 0.0
    for block in range(0, n, BLOCK):
        began = time.perf_counter()
        for i in range(block, min(n, block + BLOCK)):
            _cycle(board, i)
        spent += time.perf_counter() - began
        began = time.perf_counter()
        for _ in range(3 * min(BLOCK, n - block)):
            ping()
        floor_spent += time.perf_counter() - began
    return n / spent, n / floor_spent


def throughput(url: str, jobs: int, reps: int, warmup: int) -> dict[str, Any]:
    """post + claim + complete per second, one loop; each rep on a fresh board."""
    rates, floors = [], []
    ping = _round_trip(url)
    for _ in range(reps):
        board = _fresh(url)
        try:
            for i in range(warmup):
                _cycle(board, i)
            rate, floor = _loop(board, jobs, ping)
            rates.append(rate)
            floors.append(floor)
        finally:
            board.drop()
            board.close()
    return {"per_s": rates, "floor_per_s": floors}


def latency(url: str, samples: int) -> dict[str, Any]:
    """Post-to-claim delay with a claimer already waiting on its own connection."""
    poster = _fresh(url)
    waiter = RedisBoard.from_url(url, name=poster.name)
    claimed_at: list[float] = []
    got = threading.Semaphore(0)
    stop = threading.Event()

    def wait_and_claim() -> None:
        while not stop.is_set():
            claim: Claim | None = waiter.claim("waiter", TTL, wait=1.0)
            if claim is None:
                continue
            claimed_at.append(time.monotonic())
            claim.complete()
            got.release()

    thread = threading.Thread(target=wait_and_claim, daemon=True)
    thread.start()
    pauses = random.Random(7)
    delays = []
    try:
        time.sleep(0.3)
        for i in range(samples):
            time.sleep(pauses.uniform(0.02, 0.2))
            posted_at = time.monotonic()
            poster.post(f"latency-{i}", factory=FACTORY)
            if not got.acquire(timeout=10):
                raise RuntimeError("the waiting claimer never got the job")
            delays.append(claimed_at[-1] - posted_at)
    finally:
        stop.set()
        thread.join(timeout=5)
        poster.drop()
        waiter.close()
        poster.close()
    delays.sort()
    return {
        "samples": len(delays),
        "median_ms": statistics.median(delays) * 1000,
        "p95_ms": delays[int(0.95 * (len(delays) - 1))] * 1000,
    }


def taskflow(url: str, jobs: int, reps: int, warmup: int, samples: int) -> dict[str, Any]:
    """TaskFlow's figures from its own venv, or why there are none."""
    peers = ensure_peers_venv(log=lambda line: print(line, file=sys.stderr))
    if peers.python is None:
        return {"problem": peers.problem}
    parts = urlsplit(url)
    command = [
        str(peers.python),
        str(BENCH_DIR / "peers" / "taskflow_boards_redis.py"),
        f"--host={parts.hostname or '127.0.0.1'}",
        f"--port={parts.port or 6379}",
        f"--jobs={jobs}",
        f"--reps={reps}",
        f"--warmup={warmup}",
        f"--samples={samples}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"problem": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    result["version"] = package_version(peers.python, "taskflow")
    return result


# -- the plug-in for benchmarks/boards.py ------------------------------------------------------

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextlib.contextmanager
def _redis_for_boards() -> Iterator[str]:
    """The shared Redis's URL; the boards benchmarks/boards.py made there are deleted after."""
    client = redis.Redis.from_url(REDIS_URL)
    pattern = "steadyflow:board:{bench-*"
    before = set(client.scan_iter(match=pattern, count=1000))
    try:
        yield REDIS_URL
    finally:
        made = [key for key in client.scan_iter(match=pattern, count=1000) if key not in before]
        for start in range(0, len(made), 1000):
            client.delete(*made[start : start + 1000])
        client.close()


def _taskflow_for_boards(args: argparse.Namespace) -> dict[str, float]:
    figures = taskflow(REDIS_URL, args.jobs, 1, 50, args.samples)
    if "problem" in figures:
        raise RuntimeError(f"TaskFlow's Redis board was not measured: {figures['problem']}")
    return {
        "jobs_per_s": figures["throughput"]["conductor_loop"]["per_s"][0],
        "drain_jobs_per_s": figures["drain"]["per_s"][0],
        "latency_median_ms": figures["latency"]["median_ms"],
        "latency_p95_ms": figures["latency"]["p95_ms"],
    }


#: What benchmarks/boards.py runs besides its own boards.
KINDS: dict[str, Callable[[], AbstractContextManager[str]]] = {"redis": _redis_for_boards}
PEERS: dict[str, Callable[[argparse.Namespace], dict[str, float]]] = {"redis": _taskflow_for_boards}


# -- this script on its own ---------------------------------------------------------------------


def _summary(rates: list[float], floors: list[float]) -> dict[str, Any]:
    shares = [rate / floor for rate, floor in zip(rates, floors, strict=True)]
    return {
        "per_s": rates,
        "median": statistics.median(rates),
        "best": max(rates),
        "floor_per_s": floors,
        "floor_median": statistics.median(floors),
        "share_of_floor": statistics.median(shares),
    }


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Ours and TaskFlow's, rep after rep in turn, so both see the machine's load alike."""
    ours: tuple[list[float], list[float]] = ([], [])
    theirs: dict[str, tuple[list[float], list[float]]] = {
        "conductor_loop": ([], []),
        "direct_loop": ([], []),
    }
    peer: dict[str, Any] | None = None
    for _ in range(args.reps):
        figures = throughput(args.url, args.jobs, 1, args.warmup)
        ours[0].extend(figures["per_s"])
        ours[1].extend(figures["floor_per_s"])
        if args.no_peers or (peer is not None and "problem" in peer):
            continue
        peer = taskflow(args.url, args.jobs, 1, args.warmup, 0)
        if "problem" in peer:
            continue
        for loop, (rates, floors) in theirs.items():
            rates.extend(peer["throughput"][loop]["per_s"])
            floors.extend(peer["throughput"][loop]["floor_per_s"])
    results: dict[str, Any] = {
        "redis_url": args.url,
        "cpu": cpu_model(),
        "revision": git_revision(),
        "steadyflow": {
            "throughput": _summary(*ours),
            "latency": latency(args.url, args.samples),
        },
    }
    if peer is not None and "problem" in peer:
        results["taskflow"] = peer
    elif peer is not None:
        timing = taskflow(args.url, args.jobs, 0, args.warmup, args.samples)
        results["taskflow"] = {
            "version": peer["version"],
            "throughput": {loop: _summary(*figures) for loop, figures in theirs.items()},
            "latency": timing.get("latency", {"median_ms": float("nan"), "p95_ms": float("nan")}),
        }
    return results


def _row(label: str, loop: dict[str, Any], latency: dict[str, Any] | None) -> str:
    row = (
        f"{label:<38} {loop['median']:>8.0f} {loop['best']:>7.0f} {loop['floor_median']:>8.0f} "
        f"{loop['share_of_floor']:>6.0%}"
    )
    if latency is not None:
        row += f" {latency['median_ms']:>8.1f}ms {latency['p95_ms']:>7.1f}ms"
    return row


def _report(results: dict[str, Any]) -> str:
    ours = results["steadyflow"]
    lines = [
        f"Redis job boards ({results['redis_url']}, {results['cpu']}, rev {results['revision']})",
        "",
        f"{'board':<38} {'median/s':>8} {'best/s':>7} {'floor/s':>8} {'share':>6} "
        f"{'p2c med':>10} {'p2c p95':>9}",
        _row("steadyflow RedisBoard", ours["throughput"], ours["latency"]),
    ]
    peer = results.get("taskflow")
    if peer and "problem" not in peer:
        label = f"TaskFlow {peer['version']} RedisJobBoard"
        loops = peer["throughput"]
        lines.append(_row(label + " (iterjobs)", loops["conductor_loop"], peer["latency"]))
        lines.append(_row(label + " (direct)", loops["direct_loop"], None))
    elif peer:
        lines.append(f"TaskFlow: not measured ({peer['problem']})")
    lines += [
        "",
        "floor: three bare PINGs a job, timed in blocks alternating with the loop's;",
        "share: the loop's rate over that floor (median of the reps), which the load moves less",
        f"targets: >= {TARGET_PER_S}/s post+claim+complete; post-to-claim median "
        f"<= {TARGET_MEDIAN_MS:.0f} ms",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--jobs", type=int, default=3000, help="jobs per throughput rep")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=100, help="latency samples")
    parser.add_argument("--no-peers", action="store_true", help="skip TaskFlow")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args()
    results = compare(args)
    print(json.dumps(results, indent=2) if args.json else _report(results))


if __name__ == "__main__":
    main()

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

TaskFlow runs in benchmarks/.venv-peers (peers/taskflow_boards_redis.py);
every board's keys are deleted afterwards. The machine is shared: the figures
move with its load, so compare boards measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _env import BENCH_DIR, cpu_model, ensure_peers_venv, git_revision, package_version

from steadyflow.jobs import Claim
from steadyflow.jobs.redis import RedisBoard

TTL = 30.0
FACTORY = "bench.flows:noop"
TARGET_PER_S = 4000
TARGET_MEDIAN_MS = 20.0


def _fresh(url: str) -> RedisBoard:
    return RedisBoard.from_url(url, name=f"sfbench-{uuid.uuid4().hex[:8]}")


def _loop(board: RedisBoard, n: int) -> float:
    began = time.perf_counter()
    for i in range(n):
        board.post(f"noop-{i}", factory=FACTORY)
        claim = board.claim("bench", TTL)
        if claim is None:
            raise RuntimeError("the posted job could not be claimed")
        claim.complete()
    return n / (time.perf_counter() - began)


def throughput(url: str, jobs: int, reps: int, warmup: int) -> dict[str, Any]:
    """post + claim + complete per second, one loop; each rep on a fresh board."""
    rates = []
    for _ in range(reps):
        board = _fresh(url)
        try:
            _loop(board, warmup)
            rates.append(_loop(board, jobs))
        finally:
            board.drop()
            board.close()
    return {"per_s": rates, "median": statistics.median(rates), "best": max(rates)}


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


def _report(results: dict[str, Any]) -> str:
    ours = results["steadyflow"]
    lines = [
        f"Redis job boards ({results['redis_url']}, {results['cpu']}, rev {results['revision']})",
        "",
        f"{'board':<40} {'median/s':>9} {'best/s':>8} {'p2c median':>11} {'p2c p95':>8}",
        f"{'steadyflow RedisBoard':<40} {ours['throughput']['median']:>9.0f} "
        f"{ours['throughput']['best']:>8.0f} {ours['latency']['median_ms']:>9.1f}ms "
        f"{ours['latency']['p95_ms']:>6.1f}ms",
    ]
    peer = results.get("taskflow")
    if peer and "problem" not in peer:
        label = f"TaskFlow {peer['version']} RedisJobBoard"
        loops = peer["throughput"]
        lines.append(
            f"{label + ' (iterjobs)':<40} {loops['conductor_loop']['median']:>9.0f} "
            f"{loops['conductor_loop']['best']:>8.0f} {peer['latency']['median_ms']:>9.1f}ms "
            f"{peer['latency']['p95_ms']:>6.1f}ms"
        )
        lines.append(
            f"{label + ' (direct)':<40} {loops['direct_loop']['median']:>9.0f} "
            f"{loops['direct_loop']['best']:>8.0f}"
        )
    elif peer:
        lines.append(f"TaskFlow: not measured ({peer['problem']})")
    lines += [
        "",
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
    results: dict[str, Any] = {
        "redis_url": args.url,
        "cpu": cpu_model(),
        "revision": git_revision(),
        "steadyflow": {
            "throughput": throughput(args.url, args.jobs, args.reps, args.warmup),
            "latency": latency(args.url, args.samples),
        },
    }
    if not args.no_peers:
        results["taskflow"] = taskflow(args.url, args.jobs, args.reps, args.warmup, args.samples)
    print(json.dumps(results, indent=2) if args.json else _report(results))


if __name__ == "__main__":
    main()

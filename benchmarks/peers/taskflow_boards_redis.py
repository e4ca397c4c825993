"""TaskFlow 6.5's Redis job board, measured as benchmarks/boards_redis.py measures ours.

Runs in benchmarks/.venv-peers. Usage::

    python taskflow_boards_redis.py --host H --port P --jobs N --reps R --samples M

Prints one JSON line: ``{"throughput": {...}, "latency": {...}}`` (``--reps 0`` or
``--samples 0`` leave one out). Throughput comes with the same floor as ours:
three bare PINGs a job, in blocks alternating with the loop's.

The loop is a TaskFlow conductor's: post a job, find it unclaimed by iterating
the board (``iterjobs(only_unclaimed=True)``), ``claim(job, who, expiry=30)``
and ``consume(job, who)``. A second loop skips the discovery step and claims
the job object that ``post`` returned, TaskFlow's best case. Latency: a
claimer thread waits with ``board.wait()`` (TaskFlow's polling with backoff up
to 1 s) and claims what it finds; the poster posts one job at a time.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
import uuid
from typing import Any

import redis
from taskflow.jobs.backends.impl_redis import RedisJobBoard

TTL = 30.0


def _board(args: argparse.Namespace, namespace: str) -> Any:
    board = RedisJobBoard(
        "bench", {"host": args.host, "port": args.port, "namespace": namespace.encode()}
    )
    board.connect()
    return board


def _cleanup(board: Any, namespace: str) -> None:
    client = board._client
    keys = list(client.scan_iter(match=namespace + "*"))
    if keys:
        client.delete(*keys)
    board.close()


BLOCK = 100


def _round_trip(args: argparse.Namespace) -> Any:
    """One bare PING on a raw connection: the cheapest round trip redis-py makes."""
    client = redis.Redis(host=args.host, port=args.port)
    pool = client.connection_pool
    connection = pool.connection_class(**pool.connection_kwargs)

    def ping() -> object:
        connection.send_command("PING")
        return connection.read_response()

    return ping


def _discovering(board: Any, i: int) -> None:
    board.post(f"noop-{i}")
    for job in board.iterjobs(only_unclaimed=True):
        board.claim(job, "bench", expiry=TTL)
        board.consume(job, "bench")
        return
    raise RuntimeError("posted job not found unclaimed")


def _direct(board: Any, i: int) -> None:
    job = board.post(f"noop-{i}")
    board.claim(job, "bench", expiry=TTL)
    board.consume(job, "bench")


def _loop(board: Any, cycle: Any, n: int, ping: Any) -> tuple[float, float]:
    """(jobs/s, floor jobs/s), as benchmarks/boards_redis.py measures them."""
    spent = floor_spent = 0.0
    for block in range(0, n, BLOCK):
        began = time.perf_counter()
        for i in range(block, min(n, block + BLOCK)):
            cycle(board, i)
        spent += time.perf_counter() - began
        began = time.perf_counter()
        for _ in range(3 * min(BLOCK, n - block)):
            ping()
        floor_spent += time.perf_counter() - began
    return n / spent, n / floor_spent


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ping = _round_trip(args)
    for label, cycle in (("conductor_loop", _discovering), ("direct_loop", _direct)):
        rates, floors = [], []
        for _ in range(args.reps):
            namespace = f"sfbench-tf-{uuid.uuid4().hex[:8]}"
            board = _board(args, namespace)
            try:
                for i in range(args.warmup):
                    cycle(board, i)
                rate, floor = _loop(board, cycle, args.jobs, ping)
                rates.append(rate)
                floors.append(floor)
            finally:
                _cleanup(board, namespace)
        out[label] = {
            "per_s": rates,
            "median": statistics.median(rates),
            "best": max(rates),
            "floor_per_s": floors,
            "floor_median": statistics.median(floors),
        }
    return out


def drain(args: argparse.Namespace) -> dict[str, Any]:
    """A backlog of ``--jobs`` posted first (untimed), then claimed and consumed as its
    conductor does: iterate the unclaimed jobs, claim each, consume it."""
    rates = []
    for _ in range(args.reps):
        namespace = f"sfbench-tf-{uuid.uuid4().hex[:8]}"
        board = _board(args, namespace)
        try:
            for i in range(args.jobs):
                board.post(f"backlog-{i}")
            done = 0
            began = time.perf_counter()
            for job in board.iterjobs(only_unclaimed=True):
                board.claim(job, "bench", expiry=TTL)
                board.consume(job, "bench")
                done += 1
            rates.append(done / (time.perf_counter() - began))
            if done != args.jobs:
                raise RuntimeError(f"drained {done} of the {args.jobs} jobs posted")
        finally:
            _cleanup(board, namespace)
    return {"per_s": rates, "median": statistics.median(rates)}


def latency(args: argparse.Namespace) -> dict[str, Any]:
    namespace = f"sfbench-tf-{uuid.uuid4().hex[:8]}"
    poster = _board(args, namespace)
    waiter = _board(args, namespace)
    claimed_at: list[float] = []
    got = threading.Semaphore(0)
    stop = threading.Event()

    def wait_and_claim() -> None:
        while not stop.is_set():
            try:
                jobs = list(waiter.wait(timeout=1.0))
            except Exception:  # TaskFlow raises NotFound when the wait times out
                continue
            for job in jobs:
                try:
                    waiter.claim(job, "waiter", expiry=TTL)
                except Exception:  # already claimed or consumed: look again
                    continue
                claimed_at.append(time.monotonic())
                waiter.consume(job, "waiter")
                got.release()

    thread = threading.Thread(target=wait_and_claim, daemon=True)
    thread.start()
    pauses = random.Random(7)
    delays = []
    try:
        time.sleep(0.3)
        for i in range(args.samples):
            time.sleep(pauses.uniform(0.02, 0.2))
            posted_at = time.monotonic()
            poster.post(f"latency-{i}")
            if not got.acquire(timeout=10):
                raise RuntimeError("the waiting claimer never got the job")
            delays.append(claimed_at[-1] - posted_at)
    finally:
        stop.set()
        thread.join(timeout=5)
        _cleanup(waiter, namespace)
        _cleanup(poster, namespace)
    delays.sort()
    return {
        "samples": len(delays),
        "median_ms": statistics.median(delays) * 1000,
        "p95_ms": delays[int(0.95 * (len(delays) - 1))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--samples", type=int, default=50, help="0: no latency figures")
    args = parser.parse_args()
    result: dict[str, Any] = {"throughput": throughput(args) if args.reps else None}
    result["drain"] = drain(args) if args.reps else None
    result["latency"] = latency(args) if args.samples else None
    print(json.dumps(result))


if __name__ == "__main__":
    main()

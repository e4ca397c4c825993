"""TaskFlow 6.5's ZooKeeper and etcd job boards, timed like benchmarks/boards_zk_etcd.py
(runs in .venv-peers). ``python taskflow_boards.py zookeeper|etcd JOBS SAMPLES`` prints
one JSON line: jobs per second of a post + claim + consume loop, and post-to-claim delays.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
import uuid
from typing import Any

from taskflow import exceptions
from taskflow.jobs import backends

WARMUP = 30


def _conf(kind: str, path: str) -> dict[str, Any]:
    if kind == "zookeeper":
        # check_compatible asks the server's version with the "envi" command, which
        # .ci/services.sh does not allow (only "ruok" and "srvr").
        return {
            "board": "zookeeper",
            "hosts": "127.0.0.1:2181",
            "path": f"/taskflow-bench/{path}",
            "check_compatible": False,
        }
    return {"board": "etcd", "host": "127.0.0.1", "port": 2379, "path": path}


def _open(kind: str, path: str) -> Any:
    board = backends.fetch("bench", _conf(kind, path))
    board.connect()
    return board


def _cleanup(kind: str, board: Any) -> None:
    if kind == "zookeeper":
        board._client.delete(board.path, recursive=True)
    else:
        board._client.delete_prefix(board._root_path)


def throughput(kind: str, jobs: int) -> float:
    board = _open(kind, f"tp-{uuid.uuid4().hex[:8]}")
    try:
        for i in range(WARMUP):
            _cycle(board, i)
        began = time.perf_counter()
        for i in range(jobs):
            _cycle(board, i)
        return jobs / (time.perf_counter() - began)
    finally:
        _cleanup(kind, board)
        board.close()


def _cycle(board: Any, i: int) -> None:
    job = board.post(f"noop-{i}")
    board.claim(job, "bench")
    # The ZooKeeper board consumes only jobs its watch has already put in its cache:
    # right after a post it may answer NotFound ("unknown job"); try again until it knows.
    for _ in range(1000):
        try:
            board.consume(job, "bench")
            return
        except exceptions.NotFound:
            time.sleep(0.001)
    raise RuntimeError(f"TaskFlow never learned of job {job.uuid}")


def _claimer(kind: str, path: str, samples: int, report: Any) -> None:
    board = _open(kind, path)
    report.send("ready")
    got = 0
    while got < samples:
        for job in board.wait(timeout=30):
            try:
                board.claim(job, "waiter")
            except (exceptions.UnclaimableJob, exceptions.NotFound):
                continue
            report.send(time.time())
            board.consume(job, "waiter")
            got += 1
            break
    board.close()


def latency(kind: str, samples: int) -> list[float]:
    path = f"lat-{uuid.uuid4().hex[:8]}"
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_claimer, args=(kind, path, samples, theirs))
    child.start()
    board = _open(kind, path)
    delays = []
    try:
        assert ours.recv() == "ready"
        for i in range(samples):
            time.sleep(0.05)
            posted_at = time.time()
            board.post(f"ping-{i}")
            if not ours.poll(30):
                raise RuntimeError("the claimer did not claim within 30 s")
            delays.append(ours.recv() - posted_at)
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
        _cleanup(kind, board)
        board.close()
    return delays


if __name__ == "__main__":
    kind, jobs, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rate = throughput(kind, jobs)
    print(json.dumps({"jobs_per_s": rate, "delays": latency(kind, samples)}))

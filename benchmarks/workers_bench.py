"""The workers engine side by side with TaskFlow's worker-based engine, on one RabbitMQ.

Usage: ``.venv/bin/python benchmarks/workers_bench.py [BROKER_URL] [--write]``

For each side: tasks per second of an unordered flow of no-op tasks (1,000)
and of 10 ms-sleep tasks (300) through 1 and then 2 worker processes, and the
latency the workers add to a task at low load: seconds per task of a serial
chain of 100 no-op tasks run remotely, minus the same chain run locally by the
serial engine. Each steadyflow figure is the median of 3 runs; TaskFlow's
side runs once (benchmarks/peers/taskflow_workers_bench.py, in .venv-peers;
it is slow enough). With ``--write``, the table replaces the workers section
of benchmarks/RESULTS.md (which ``make bench`` keeps).
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import _sf_worker_tasks as tasks  # noqa: E402
from _env import ensure_peers_venv, git_revision, section_marks, write_section  # noqa: E402

import steadyflow as sf  # noqa: E402

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
COUNTS = {"noop": 1000, "sleep10ms": 300}
CHAIN = 100
CONCURRENCY = 4
# Requests started ahead of a free runner, one per runner: with the default (1), runners
# that finish together wait for the broker's next delivery in turn (0.4 ms a task more
# on the 10 ms tasks). TaskFlow's worker takes every request it is sent into its pool's
# queue at once: it prefetches without bound.
PREFETCH = CONCURRENCY
REPEAT = 3
BEGIN, END = section_marks("workers")


def _worker(url: str, topic: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(BENCH_DIR))
    return subprocess.Popen(
        [sys.executable, "-m", "steadyflow.workers", "--broker", url, "--topic", topic,
         "--concurrency", str(CONCURRENCY), "--prefetch", str(PREFETCH),
         "--log-level", "WARNING", "_sf_worker_tasks"],
        env=env,
    )  # fmt: skip


def _timed(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def _flow(kind: str, n: int, pattern: type[sf.Flow]) -> sf.Flow:
    fn = tasks.noop.fn if kind == "noop" else tasks.sleep10ms.fn
    return pattern(kind, *(sf.task(fn, name=f"t{i}") for i in range(n)))


def _median(fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(REPEAT))


def steadyflow_side(url: str) -> dict[str, float]:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    options: dict[str, Any] = {"engine": "workers", "broker": url, "topic": topic}
    out: dict[str, float] = {}
    workers = [_worker(url, topic)]
    try:
        sf.run(_flow("noop", 1, sf.Linear), **options)  # both sides connected and warm
        for n_workers in (1, 2):
            if n_workers == 2:
                workers.append(_worker(url, topic))
                time.sleep(1)
            for kind, n in COUNTS.items():
                flow = _flow(kind, n, sf.Unordered)
                seconds = _median(lambda: _timed(lambda: sf.run(flow, **options)))  # noqa: B023
                out[f"{kind}_tps_{n_workers}w"] = n / seconds
        out["chain_remote_s"] = (
            _median(lambda: _timed(lambda: sf.run(_flow("noop", CHAIN, sf.Linear), **options)))
            / CHAIN
        )
        out["chain_local_s"] = (
            _median(lambda: _timed(lambda: sf.run(_flow("noop", CHAIN, sf.Linear)))) / CHAIN
        )
        out["step_remote_p50_s"] = _median_step(options)
        out["step_local_p50_s"] = _median_step({})
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait()
        _delete_queue(url, topic)
    return out


def _median_step(options: dict[str, Any]) -> float:
    """The median time from one task's success to the next one's, in a serial chain.

    A loaded machine (several agents on two cores) makes a few steps slow;
    the median says what one step costs when nothing else gets in the way.
    """
    engine = sf.load(_flow("noop", CHAIN, sf.Linear), **options)
    stamps: list[float] = []

    def on_state(event: Any, details: Any) -> None:
        if details["state"] == sf.AtomState.SUCCESS:
            stamps.append(time.perf_counter())

    engine.notifier.register(sf.events.ATOM_STATE, on_state)
    with engine:
        engine.run()
    return statistics.median(b - a for a, b in itertools.pairwise(stamps))


def _delete_queue(url: str, topic: str) -> None:
    from steadyflow.workers import _broker

    kombu = _broker.import_kombu()
    with kombu.Connection(url) as connection:
        _broker.request_queue(topic)(connection.default_channel).delete()
        _broker.announce_exchange(topic)(connection.default_channel).delete()


def taskflow_side(url: str) -> dict[str, float] | str:
    peers = ensure_peers_venv()
    if peers.python is None:
        return peers.problem
    proc = subprocess.run(
        [str(peers.python), str(BENCH_DIR / "peers" / "taskflow_workers_bench.py"), url],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if proc.returncode != 0:
        return "TaskFlow side failed: " + " | ".join(proc.stderr.strip().splitlines()[-3:])
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def table(ours: dict[str, float], theirs: dict[str, float] | str) -> str:
    peer = theirs if isinstance(theirs, dict) else {}
    rows = [
        "| measure | steadyflow | TaskFlow (sf/peer) | target |",
        "|---|--:|--:|---|",
    ]
    for n_workers in (1, 2):
        for kind, n in COUNTS.items():
            key = f"{kind}_tps_{n_workers}w"
            ratio = ours[key] / peer[key] if key in peer else None
            target = "≥ 5x TaskFlow — " + ("met" if ratio and ratio >= 5 else "MISSED")
            rows.append(
                f"| {kind} tasks/s, {n_workers} worker{'s' if n_workers > 1 else ''} (n={n}) "
                f"| {ours[key]:.0f} | {_peer(peer, key, ratio)} | {target} |"
            )
    added = (ours["chain_remote_s"] - ours["chain_local_s"]) * 1000
    rows.append(
        f"| serial chain, ms/task remote (n={CHAIN}) | {ours['chain_remote_s'] * 1000:.2f} | "
        f"{_ms(peer, 'chain_remote_s')} | |"
    )
    rows.append(
        f"| serial chain, ms/task local | {ours['chain_local_s'] * 1000:.3f} | "
        f"{_ms(peer, 'chain_local_s')} | |"
    )
    peer_added = f"{(peer['chain_remote_s'] - peer['chain_local_s']) * 1000:.1f}" if peer else "n/a"
    verdict = "met" if added <= 2 else "MISSED"
    rows.append(
        f"| added latency, ms/task (remote - local, mean) | {added:.2f} | {peer_added} | "
        f"≤ 2 ms — {verdict} |"
    )
    step = (ours["step_remote_p50_s"] - ours["step_local_p50_s"]) * 1000
    peer_step = (
        f"{(peer['step_remote_p50_s'] - peer['step_local_p50_s']) * 1000:.1f}"
        if "step_remote_p50_s" in peer
        else "n/a"
    )
    rows.append(
        f"| added latency, ms/task (remote - local, median step) | {step:.2f} | {peer_step} | "
        f"≤ 2 ms — {'met' if step <= 2 else 'MISSED'} |"
    )
    if isinstance(theirs, str):
        rows.append(f"\nTaskFlow side: {theirs}")
    return "\n".join(rows)


def _peer(peer: dict[str, float], key: str, ratio: float | None) -> str:
    return f"{peer[key]:.1f} (x{ratio:.1f})" if key in peer and ratio else "n/a"


def _ms(peer: dict[str, float], key: str) -> str:
    return f"{peer[key] * 1000:.2f}" if key in peer else "n/a"


def section(body: str, url: str) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"{BEGIN}\n## Remote workers (`benchmarks/workers_bench.py`)\n\n"
        f"Written by `.venv/bin/python benchmarks/workers_bench.py --write` on {when} "
        f"(git {git_revision()}), RabbitMQ at {url.split('@')[-1]}, {CONCURRENCY} threads per "
        f"worker on both sides (steadyflow's with --prefetch {PREFETCH}; TaskFlow's worker queues "
        f"every request it is sent). steadyflow figures: median of "
        f"{REPEAT} runs; TaskFlow: one run. Tasks per second of an unordered flow; added "
        f"latency: a serial chain of no-op tasks, per task, remote minus local.\n\n"
        f"{body}\n{END}\n"
    )


def main(argv: list[str]) -> int:
    url = next((arg for arg in argv if "://" in arg), DEFAULT_BROKER)
    ours = steadyflow_side(url)
    theirs = taskflow_side(url)
    text = table(ours, theirs)
    print(text)
    if "--write" in argv:
        write_section("workers", section(text, url))
        print(f"wrote the workers section of {BENCH_DIR / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

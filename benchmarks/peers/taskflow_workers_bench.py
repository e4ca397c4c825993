"""TaskFlow 6.5's worker-based engine on the workers benchmark (runs in .venv-peers).

Usage: ``python taskflow_workers_bench.py BROKER_URL`` prints one JSON object:
tasks per second through 1 and 2 workers (no-op and 10 ms-sleep tasks, an
unordered flow), and seconds per task of a serial chain remote and local
(their difference is the latency the workers add). Mirrors
``benchmarks/workers_bench.py``, which does the same with steadyflow.
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
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _tf_worker_tasks import Noop, Sleep10ms  # noqa: E402
from taskflow import engines, states  # noqa: E402
from taskflow.patterns import linear_flow, unordered_flow  # noqa: E402

TASKS = {"noop": Noop, "sleep10ms": Sleep10ms}
COUNTS = {"noop": 1000, "sleep10ms": 300}
CHAIN = 100


def _worker(url: str, exchange: str, topic: str) -> subprocess.Popen[bytes]:
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
        "from taskflow.engines.worker_based import worker\n"
        f"worker.Worker(exchange={exchange!r}, topic={topic!r}, url={url!r}, threads_count=4,\n"
        "    tasks=['_tf_worker_tasks:Noop', '_tf_worker_tasks:Sleep10ms']).run()\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))


def _options(url: str, exchange: str, topic: str) -> dict[str, Any]:
    return {"engine": "worker-based", "url": url, "exchange": exchange, "topics": [topic]}


def _run(flow: Any, **options: Any) -> float:
    engine = engines.load(flow, **options)
    engine.compile()
    engine.prepare()
    began = time.perf_counter()
    engine.run()
    return time.perf_counter() - began


def _median_step(**options: Any) -> float:
    """The median time from one task's success to the next one's, in a serial chain."""
    chain = linear_flow.Flow("c").add(*[Noop(name=f"c{i}") for i in range(CHAIN)])
    engine = engines.load(chain, **options)
    stamps: list[float] = []
    engine.atom_notifier.register(
        states.SUCCESS, lambda state, details: stamps.append(time.perf_counter())
    )
    engine.run()
    return statistics.median(b - a for a, b in itertools.pairwise(stamps))


def main(url: str) -> dict[str, Any]:
    exchange = f"tf-bench-{uuid.uuid4().hex[:8]}"
    topic = "bench"
    out: dict[str, Any] = {}
    workers = [_worker(url, exchange, topic)]
    try:
        time.sleep(3)  # TaskFlow finds workers by their periodic notifications
        options = _options(url, exchange, topic)
        _run(linear_flow.Flow("warm").add(Noop("w")), **options)
        for n_workers in (1, 2):
            if n_workers == 2:
                workers.append(_worker(url, exchange, topic))
                time.sleep(5)
            for kind, cls in TASKS.items():
                n = COUNTS[kind]
                flow = unordered_flow.Flow("u").add(*[cls(name=f"t{i}") for i in range(n)])
                out[f"{kind}_tps_{n_workers}w"] = n / _run(flow, **options)
        chain = linear_flow.Flow("c").add(*[Noop(name=f"c{i}") for i in range(CHAIN)])
        out["chain_remote_s"] = _run(chain, **options) / CHAIN
        chain = linear_flow.Flow("c").add(*[Noop(name=f"c{i}") for i in range(CHAIN)])
        out["chain_local_s"] = _run(chain, engine="serial") / CHAIN
        out["step_remote_p50_s"] = _median_step(**options)
        out["step_local_p50_s"] = _median_step(engine="serial")
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait()
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))

"""steadyflow's own workers, a Celery fleet and a Dask cluster, side by side.

Usage: ``.venv/bin/python benchmarks/remote_bench.py [BROKER_URL] [--write]``

The same two workloads through each remote engine: an unordered flow of
1,000 no-op tasks and one of 200 tasks sleeping 10 ms. Each engine gets two
worker processes of four threads each (``steadyflow worker --concurrency 4``,
``celery worker --pool threads --concurrency 4``, a Dask ``LocalCluster``
with ``threads_per_worker=4``), all on this machine and, for the first two,
the same RabbitMQ. Per-task overhead: for no-op tasks, wall time per task;
for 10 ms tasks, wall time beyond the ideal (200 x 10 ms over 8 threads),
per task. Each figure is the median of 3 runs after a warm-up run. With
``--write`` the table replaces the remote engines' section of
benchmarks/RESULTS.md (which ``make bench`` keeps).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import _sf_worker_tasks as tasks  # noqa: E402
from _env import git_revision, section_marks, write_section  # noqa: E402

import steadyflow as sf  # noqa: E402

DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
COUNTS = {"noop": 1000, "sleep10ms": 200}
PROCESSES = 2
THREADS = 4
REPEAT = 3
BEGIN, END = section_marks("remote-engines")


def _flow(kind: str, n: int) -> sf.Flow:
    fn = tasks.noop.fn if kind == "noop" else tasks.sleep10ms.fn
    return sf.Unordered(kind, *(sf.task(fn, name=f"t{i}") for i in range(n)))


def _measure(options: dict[str, Any]) -> dict[str, float]:
    """Seconds of each workload through one engine (median of REPEAT, after a warm-up)."""
    sf.run(_flow("noop", 20), **options)
    out: dict[str, float] = {}
    for kind, n in COUNTS.items():
        flow = _flow(kind, n)
        runs = []
        for _ in range(REPEAT):
            began = time.perf_counter()
            sf.run(flow, **options)
            runs.append(time.perf_counter() - began)
        out[kind] = statistics.median(runs)
    return out


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _delete(url: str, queue: str, exchange: str | None) -> None:
    from steadyflow.workers import _broker

    kombu = _broker.import_kombu()
    with contextlib.suppress(Exception), kombu.Connection(url) as connection:
        kombu.Queue(queue)(connection.default_channel).delete()
        if exchange is not None:
            kombu.Exchange(exchange, type="direct")(connection.default_channel).delete()


@contextlib.contextmanager
def _own_workers(url: str) -> Iterator[dict[str, Any]]:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, PYTHONPATH=str(BENCH_DIR))
    command = [
        sys.executable, "-m", "steadyflow.workers", "--broker", url, "--topic", topic,
        "--concurrency", str(THREADS), "--log-level", "WARNING", "_sf_worker_tasks",
    ]  # fmt: skip
    procs = [subprocess.Popen(command, env=env) for _ in range(PROCESSES)]
    try:
        yield {"engine": "workers", "broker": url, "topic": topic}
    finally:
        _stop(procs)
        _delete(url, f"steadyflow.{topic}", None)


@contextlib.contextmanager
def _celery(url: str) -> Iterator[dict[str, Any]]:
    queue = f"bench-celery-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, PYTHONPATH=str(BENCH_DIR), SF_BENCH_BROKER=url, SF_BENCH_QUEUE=queue)

    def command(i: int) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "_celery_bench_app", "worker",
            "--pool", "threads", "--concurrency", str(THREADS), "--queues", queue,
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "WARNING", "--hostname", f"{queue}-{i}@%h",
        ]  # fmt: skip

    quiet = subprocess.DEVNULL  # the worker's banner
    procs = [subprocess.Popen(command(i), env=env, stdout=quiet) for i in range(PROCESSES)]
    os.environ["SF_BENCH_BROKER"] = url
    from _celery_bench_app import make_app

    try:
        yield {"engine": "celery", "celery_app": make_app(queue)}
    finally:
        _stop(procs)
        _delete(url, queue, queue)


@contextlib.contextmanager
def _dask(url: str) -> Iterator[dict[str, Any]]:
    distributed: Any = importlib.import_module("distributed")
    with (
        distributed.LocalCluster(
            n_workers=PROCESSES,
            threads_per_worker=THREADS,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            scheduler_port=0,
            silence_logs=40,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        # The worker processes are spawned with this sys.path, BENCH_DIR on it.
        yield {"engine": "dask", "client": client}


ENGINES: dict[str, Callable[[str], contextlib.AbstractContextManager[dict[str, Any]]]] = {
    "steadyflow workers": _own_workers,
    "Celery": _celery,
    "Dask": _dask,
}


def measure_all(url: str) -> dict[str, dict[str, float] | str]:
    results: dict[str, dict[str, float] | str] = {}
    for name, start in ENGINES.items():
        print(f"remote engines: {name}...", file=sys.stderr, flush=True)
        try:
            with start(url) as options:
                results[name] = _measure(options)
        except Exception as exc:  # one engine failing leaves the others' figures
            results[name] = f"failed: {type(exc).__name__}: {exc}"
    return results


def table(results: dict[str, dict[str, float] | str]) -> str:
    ideal = COUNTS["sleep10ms"] * 0.010 / (PROCESSES * THREADS)
    rows = [
        "| engine | no-op tasks/s | no-op ms/task | 10 ms tasks: s | "
        "10 ms tasks: overhead ms/task |",
        "|---|--:|--:|--:|--:|",
    ]
    for name, figures in results.items():
        if isinstance(figures, str):
            rows.append(f"| {name} | {figures} | | | |")
            continue
        noop, sleep = figures["noop"], figures["sleep10ms"]
        rows.append(
            f"| {name} | {COUNTS['noop'] / noop:.0f} | {noop / COUNTS['noop'] * 1000:.2f} | "
            f"{sleep:.2f} | {(sleep - ideal) / COUNTS['sleep10ms'] * 1000:.2f} |"
        )
    return "\n".join(rows)


def section(body: str, url: str) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"{BEGIN}\n## Remote engines: own workers, Celery, Dask (`benchmarks/remote_bench.py`)"
        f"\n\nWritten by `.venv/bin/python benchmarks/remote_bench.py --write` on {when} "
        f"(git {git_revision()}), RabbitMQ at {url.split('@')[-1]}; {PROCESSES} worker "
        f"processes x {THREADS} threads per engine, on this machine; median of {REPEAT} runs. "
        f"Unordered flows of {COUNTS['noop']} no-op and {COUNTS['sleep10ms']} 10 ms tasks; "
        f"overhead: wall time beyond the ideal {COUNTS['sleep10ms']} x 10 ms / "
        f"{PROCESSES * THREADS} threads, per task.\n\n{body}\n{END}\n"
    )


def main(argv: list[str]) -> int:
    url = next((arg for arg in argv if "://" in arg), DEFAULT_BROKER)
    text = table(measure_all(url))
    print(text)
    if "--write" in argv:
        write_section("remote-engines", section(text, url))
        print(f"wrote the remote engines section of {BENCH_DIR / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

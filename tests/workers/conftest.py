"""Fixtures of the workers tests: a broker per transport, a topic per test, worker processes.

Each test gets a topic with a random suffix, so its queue (``steadyflow.<topic>``)
is its own on the shared RabbitMQ (or Redis); the queue is deleted afterwards.
Worker processes run ``python -m steadyflow.workers`` on ``workers._tasks``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import _services

AMQP_URL = os.environ.get("STEADYFLOW_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_URL = os.environ.get("STEADYFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TESTS_DIR = Path(__file__).resolve().parent.parent
TASKS_MODULE = "workers._tasks"


def _probe(url: str) -> str | None:
    try:
        kombu: Any = importlib.import_module("kombu")
    except ImportError as exc:
        return f"kombu not installed: {exc}"
    try:
        with kombu.Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        return f"broker not reachable at {url}: {exc}"
    return None


def _cleanup(url: str, topic: str) -> None:
    from steadyflow.workers import _broker

    kombu = _broker.import_kombu()

    with contextlib.suppress(Exception), kombu.Connection(url, connect_timeout=2) as connection:
        channel = connection.default_channel
        _broker.request_queue(topic)(channel).delete()
        if url.startswith("redis"):
            # kombu's Redis transport keeps a queue's binding after deleting the queue.
            client = channel.client
            for member in client.smembers("_kombu.binding.steadyflow"):
                if member.endswith(f"steadyflow.{topic}".encode()):
                    client.srem("_kombu.binding.steadyflow", member)
        else:
            _broker.announce_exchange(topic)(channel).delete()


@pytest.fixture(params=["rabbitmq"])
def broker(request: pytest.FixtureRequest) -> str:
    """The broker URL (RabbitMQ); skips, or fails under STEADYFLOW_REQUIRE_SERVICES=1."""
    reason = _probe(AMQP_URL)
    if reason is not None:
        _services.unavailable(reason)
    return AMQP_URL


@pytest.fixture
def redis_broker() -> str:
    reason = _probe(REDIS_URL)
    if reason is not None:
        _services.unavailable(reason)
    return REDIS_URL


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"sftest-{uuid.uuid4().hex[:10]}"
    yield name
    for url in (AMQP_URL, REDIS_URL):
        if _probe(url) is None:
            _cleanup(url, name)


@pytest.fixture
def side_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file the tasks append their side effects to (SF_TEST_LOG)."""
    path = tmp_path / "side.log"
    path.touch()
    monkeypatch.setenv("SF_TEST_LOG", str(path))
    return path


class WorkerProcs:
    """Worker processes started for one test; all stopped at its end."""

    def __init__(self, broker: str, topic: str) -> None:
        self.broker = broker
        self.topic = topic
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, *, concurrency: int = 4, heartbeat: float = 0.5, prefetch: int = 1
    ) -> subprocess.Popen[bytes]:
        env = dict(os.environ, PYTHONPATH=str(TESTS_DIR))
        command = [
            sys.executable, "-m", "steadyflow.workers", "--broker", self.broker,
            "--topic", self.topic, "--concurrency", str(concurrency), "--prefetch", str(prefetch),
            "--heartbeat", str(heartbeat), "--log-level", "WARNING", TASKS_MODULE,
        ]  # fmt: skip
        proc = subprocess.Popen(command, env=env)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)
                    proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def worker_procs(broker: str, topic: str) -> Iterator[WorkerProcs]:
    procs = WorkerProcs(broker, topic)
    try:
        yield procs
    finally:
        procs.stop_all()


@pytest.fixture
def thread_worker(topic: str) -> Iterator[Callable[..., Any]]:
    """Start in-process workers (on threads) with given tasks; stopped at the end."""
    from steadyflow.workers import Worker

    started: list[tuple[Any, threading.Thread]] = []

    def start(*tasks: Any, url: str | None = None, **options: Any) -> Any:
        options.setdefault("modules", [] if tasks else [TASKS_MODULE])
        worker = Worker(url or AMQP_URL, topic, tasks, **options)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        started.append((worker, thread))
        return worker

    yield start
    for worker, thread in started:
        worker.stop()
        thread.join(timeout=10)

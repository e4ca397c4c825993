"""Fixtures of the Celery and Dask tests: a real Dask LocalCluster, a real Celery worker.

Both clusters run the tasks of ``workers._tasks`` (the workers tests' module),
imported there by name: the tests directory is on their ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import _services

TESTS_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A client of a LocalCluster of two worker processes on loopback, one per module."""
    distributed = pytest.importorskip("distributed", reason="needs steadyflow[dask]")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=4,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            scheduler_port=0,
            silence_logs=40,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


class CeleryWorker:
    """A real ``celery worker`` process (prefork, 2 children) serving ``queue``."""

    def __init__(self, queue: str, side_log: Path, name: str = "w") -> None:
        self.queue = queue
        env = dict(
            os.environ,
            PYTHONPATH=str(TESTS_DIR),
            SF_CELERY_QUEUE=queue,
            SF_TEST_LOG=str(side_log),
        )
        command = [
            sys.executable, "-m", "celery", "-A", "celery_dask._celery_app", "worker",
            "--pool", "prefork", "--concurrency", "2", "--queues", queue,
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "WARNING", "--hostname", f"{name}.{queue}@%h",
        ]  # fmt: skip
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _delete_queue(url: str, queue: str) -> None:
    from steadyflow.workers import _broker

    kombu = _broker.import_kombu()
    with contextlib.suppress(Exception), kombu.Connection(url, connect_timeout=2) as connection:
        channel = connection.default_channel
        kombu.Queue(queue)(channel).delete()
        kombu.Exchange(queue, type="direct")(channel).delete()


@pytest.fixture
def side_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file the tasks append their side effects to (SF_TEST_LOG)."""
    path = tmp_path / "side.log"
    path.touch()
    monkeypatch.setenv("SF_TEST_LOG", str(path))
    return path


def _new_celery_queue() -> str:
    """A fresh queue name on the shared RabbitMQ; skips (or fails in CI) without it."""
    pytest.importorskip("celery", reason="needs steadyflow[celery]")
    from workers.conftest import AMQP_URL, _probe

    reason = _probe(AMQP_URL)
    if reason is not None:
        _services.unavailable(reason)
    return f"sftest-celery-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def celery_queue() -> Iterator[str]:
    """The queue of the module's Celery worker (one worker per module: it takes seconds)."""
    from workers.conftest import AMQP_URL

    name = _new_celery_queue()
    yield name
    _delete_queue(AMQP_URL, name)


@pytest.fixture(scope="module")
def celery_worker_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("celery") / "side.log"
    path.touch()
    return path


@pytest.fixture(scope="module")
def celery_worker(celery_queue: str, celery_worker_log: Path) -> Iterator[CeleryWorker]:
    worker = CeleryWorker(celery_queue, celery_worker_log)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def celery_log(celery_worker: CeleryWorker, celery_worker_log: Path) -> Path:
    """The module worker's side-effect log, emptied for this test."""
    celery_worker_log.write_text("")
    return celery_worker_log


@pytest.fixture
def celery_app(celery_queue: str) -> Any:
    """The engine's app: the same broker and queue, and no steadyflow task of its own."""
    from celery_dask._celery_app import make_app

    return make_app(celery_queue)


@pytest.fixture
def celery_fleet(side_log: Path) -> Iterator[Callable[[int], tuple[Any, list[CeleryWorker]]]]:
    """Start ``n`` Celery workers on a fresh queue of their own (logging to ``side_log``)."""
    from celery_dask._celery_app import make_app
    from workers.conftest import AMQP_URL

    queue = _new_celery_queue()
    started: list[CeleryWorker] = []

    def start(n: int) -> tuple[Any, list[CeleryWorker]]:
        started.extend(CeleryWorker(queue, side_log, name=f"w{i}") for i in range(n))
        return make_app(queue), started

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
        _delete_queue(AMQP_URL, queue)

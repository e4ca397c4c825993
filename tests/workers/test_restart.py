"""RabbitMQ restarted mid-run, and a task longer than RabbitMQ's consumer timeout.

Both change the shared broker for a moment (other agents' connections drop
too), so they restore it before they end, whatever happens.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import _services
import steadyflow as sf
from workers import _tasks
from workers.conftest import WorkerProcs

pytestmark = [pytest.mark.rabbitmq, pytest.mark.crash, pytest.mark.slow]


def _ctl(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout, check=True
    )
    return proc.stdout


@pytest.fixture
def rabbitmqctl(broker: str) -> None:
    if shutil.which("rabbitmqctl") is None or os.geteuid() != 0:
        _services.unavailable("restarting RabbitMQ needs rabbitmqctl, as root")


def _run_in_thread(engine: sf.Engine) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def call() -> None:
        try:
            engine.run()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    return thread, outcome


def _events(path: Path) -> list[tuple[str, str]]:
    return [(line.split()[0], line.split()[1]) for line in path.read_text().splitlines()]


def test_a_broker_restart_mid_run_loses_no_request(
    broker: str, topic: str, worker_procs: WorkerProcs, side_log: Path, rabbitmqctl: None
) -> None:
    # Given two workers and a flow of 30 half-second tasks, some done, some running, some queued
    worker_procs.start(heartbeat=0.5)
    worker_procs.start(heartbeat=0.5)
    tasks = [sf.task(_tasks.slow.fn, name=f"s{i}", provides=f"r{i}") for i in range(30)]
    engine = sf.load(
        sf.Unordered("many", *tasks),
        store={"seconds": 0.5},
        engine="workers",
        broker=broker,
        topic=topic,
    )
    runner, outcome = _run_in_thread(engine)
    deadline = time.monotonic() + 30
    while sum(event == "end" for event, _ in _events(side_log)) < 6:
        assert time.monotonic() < deadline, side_log.read_text()
        time.sleep(0.05)
    # When RabbitMQ stops and starts again mid-run
    try:
        _ctl("stop_app")
        time.sleep(2)
    finally:
        _ctl("start_app")
        _ctl("await_startup")
    runner.join(timeout=90)
    # Then the run completes, and every task ran to its end (at least once)
    assert outcome == [None], outcome
    assert engine.storage.flow_state is sf.FlowState.SUCCESS
    ends = collections.Counter(key for event, key in _events(side_log) if event == "end")
    assert len(ends) == 30
    # A task that ran twice is one whose result the restart caught on its way: a few at most
    assert sum(count - 1 for count in ends.values()) <= 8, ends


def _held_delivery_is_timed_out(broker: str, topic: str, limit: float) -> float | None:
    """Hold one delivery unacked, as a late-acking consumer would: when does RabbitMQ kill it?

    The control half of the consumer-timeout test: it proves the timeout is
    really enforced while the worker's long task runs (RabbitMQ checks it
    on each channel's tick, which the test lowers to a second as well).
    """
    from steadyflow.workers import _broker

    kombu = _broker.import_kombu()
    name = f"sftest-control-{topic}"
    began = time.monotonic()
    with kombu.Connection(broker) as connection:
        channel = connection.channel()
        queue = kombu.Queue(name, durable=False, auto_delete=False)
        queue(channel).declare()
        try:
            kombu.Producer(channel).publish(b"held", routing_key=name)
            held: list[Any] = []
            with kombu.Consumer(channel, [queue], callbacks=[lambda body, m: held.append(m)]):
                while time.monotonic() - began < limit:
                    try:
                        connection.drain_events(timeout=1)
                    except TimeoutError:
                        continue
                    except Exception:  # the channel closed: PRECONDITION_FAILED, timed out
                        return time.monotonic() - began
            return None
        finally:
            with kombu.Connection(broker) as cleanup:
                cleanup.default_channel.queue_delete(name)


#: RabbitMQ's own values of the settings the consumer-timeout test lowers, put back after it
#: whenever it finds its own lowered value left over (a run interrupted, or one beside another).
_RABBIT_DEFAULTS = {"consumer_timeout": "1800000", "channel_tick_interval": "60000"}
_LOWERED_MS = "1000"


@contextlib.contextmanager
def _rabbit_settings_lowered() -> Iterator[None]:
    """RabbitMQ's consumer timeout and channel tick at 1 s, for channels opened meanwhile.

    A channel checks its consumers' timeouts on its tick, once a minute by
    default: lowering the tick too makes the timeout bite within seconds.
    """
    before = {
        name: _ctl("eval", f"application:get_env(rabbit, {name}).").strip()
        for name in _RABBIT_DEFAULTS
    }
    try:
        for name in _RABBIT_DEFAULTS:
            _ctl("eval", f"application:set_env(rabbit, {name}, {_LOWERED_MS}).")
        yield
    finally:
        for name, found in before.items():
            value = found.removeprefix("{ok,").removesuffix("}") if found != "undefined" else None
            if value == _LOWERED_MS:
                value = _RABBIT_DEFAULTS[name]
            if value is None:
                _ctl("eval", f"application:unset_env(rabbit, {name}).")
            else:
                _ctl("eval", f"application:set_env(rabbit, {name}, {value}).")


def test_a_task_longer_than_the_consumer_timeout_completes_once(
    broker: str, topic: str, worker_procs: WorkerProcs, side_log: Path, rabbitmqctl: None
) -> None:
    # Given RabbitMQ's consumer timeout lowered to 1 s, checked every second
    with _rabbit_settings_lowered():
        worker_procs.start(heartbeat=0.5)
        engine = sf.load(
            sf.Linear("long", _tasks.slow),
            store={"seconds": 12},
            engine="workers",
            broker=broker,
            topic=topic,
        )
        # When a task runs for 12 s on a worker, while a consumer holding a delivery unacked
        # is cut off by the timeout (proving it is enforced)
        runner, outcome = _run_in_thread(engine)
        killed_after = _held_delivery_is_timed_out(broker, topic, limit=10)
        runner.join(timeout=60)
    # Then the late-acking consumer was cut off, but the task completed, once: its request
    # was acked when it started, and heartbeats, not an unacked delivery, kept it alive
    assert killed_after is not None
    assert outcome == [None], outcome
    assert [event for event, _ in _events(side_log)] == ["start", "end"]

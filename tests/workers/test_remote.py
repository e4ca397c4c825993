"""The workers engine against a real RabbitMQ: results, reverts, progress, failures."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.errors import (
    MessageError,
    RemoteFailureError,
    RevertFailedError,
    TaskTimeoutError,
)
from steadyflow.events import Event
from workers import _tasks
from workers.conftest import WorkerProcs

pytestmark = pytest.mark.rabbitmq


def _catching(fn: Callable[[], Any], errors: list[BaseException]) -> Callable[[], None]:
    def call() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    return call


def _wait_for_lines(path: Path, count: int, timeout: float = 20) -> list[list[str]]:
    """The side-effect log once it has ``count`` lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [line.split() for line in path.read_text().splitlines()]
        if len(lines) >= count:
            return lines
        time.sleep(0.02)
    raise AssertionError(f"{path} has fewer than {count} lines: {path.read_text()!r}")


def _run(flow: sf.Flow, broker: str, topic: str, **options: Any) -> Any:
    return sf.run(flow, engine="workers", broker=broker, topic=topic, **options)


def test_function_class_and_async_tasks_run_on_the_worker(
    broker: str, topic: str, thread_worker: Any
) -> None:
    # Given a worker serving the test tasks
    worker = thread_worker()
    # When a flow of a function task, a class-based task and an async task runs there
    flow = sf.Linear("mixed", _tasks.add, _tasks.Greet(provides="greeting"), _tasks.async_add)
    results = _run(flow, broker, topic, store={"x": 2, "y": 3, "who": "ann"})
    # Then their results come back, and the worker ran all three
    assert results == {"sum": 5, "greeting": "hello ann", "async_sum": 5}
    assert worker.processed == 3


def test_map_elements_are_separate_requests_and_retries_stay_local(
    broker: str, topic: str, thread_worker: Any
) -> None:
    # Given a Map of 5 elements under a retry controller
    worker = thread_worker()
    flow = sf.Linear("mapped", sf.Map(_tasks.square, provides="squares"), retry=sf.retry.Times(2))
    # When it runs on the workers engine
    results = _run(flow, broker, topic, store={"items": [1, 2, 3, 4, 5]})
    # Then each element was one request (the retry controller never went to the worker)
    assert results == {"squares": [1, 4, 9, 16, 25]}
    assert worker.processed == 5


def test_revert_runs_on_the_worker_and_failures_keep_their_chain(
    broker: str, topic: str, worker_procs: WorkerProcs, side_log: Path
) -> None:
    # Given a worker process, and a flow whose second task fails (with a cause)
    proc = worker_procs.start()
    engine = sf.load(
        sf.Linear("undo", _tasks.make, _tasks.explode),
        store={"x": 4},
        engine="workers",
        broker=broker,
        topic=topic,
    )
    # When it runs
    with pytest.raises(RemoteFailureError) as raised:
        engine.run()
    # Then the failure kept the type names, message, traceback and cause chain
    failure = raised.value.failure
    assert failure.exc_type_names[0] == "builtins.RuntimeError"
    assert failure.message == "boom after 40"
    assert "raise RuntimeError" in failure.traceback_str
    assert failure.cause is not None
    assert failure.cause.exc_type_names[0] == "builtins.KeyError"
    assert failure.check(RuntimeError) is not None
    # And make's revert ran once, in the worker process, with make's result
    lines = [line.split() for line in side_log.read_text().splitlines()]
    assert [(event, int(pid)) for event, _, pid, _ in lines] == [
        ("make", proc.pid),
        ("revert:40", proc.pid),
    ]
    assert engine.storage.flow_state is sf.FlowState.REVERTED


def test_progress_reaches_the_engine_listeners(broker: str, topic: str, thread_worker: Any) -> None:
    thread_worker()
    engine = sf.load(sf.Linear("p", _tasks.progress), engine="workers", broker=broker, topic=topic)
    seen: list[float] = []
    engine.notifier.register(
        Event.ATOM_PROGRESS, lambda event, details: seen.append(details["progress"])
    )
    engine.run()
    assert [p for p in seen if p < 1.0] == [0.25, 0.5]
    assert 1.0 in seen


def test_a_silent_worker_times_the_task_out(
    broker: str, topic: str, worker_procs: WorkerProcs, side_log: Path
) -> None:
    # Given a worker that takes the task and then freezes (SIGSTOP), before its first
    # missed heartbeat could give it away (heartbeat 5 s)
    frozen = worker_procs.start(heartbeat=5.0)
    slow = sf.task(_tasks.slow.fn, provides="slow", timeout=1.5)
    engine = sf.load(
        sf.Linear("t", slow), store={"seconds": 3}, engine="workers", broker=broker, topic=topic
    )
    errors: list[BaseException] = []
    failed_at: list[float] = []

    def on_state(event: Event, details: Any) -> None:
        if details["state"] == sf.AtomState.FAILURE:
            failed_at.append(time.monotonic())

    engine.notifier.register(Event.ATOM_STATE, on_state)
    runner = threading.Thread(target=_catching(engine.run, errors))
    began = time.monotonic()
    runner.start()
    _wait_for_lines(side_log, 1)
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        worker_procs.start()  # reverts the timed-out task
        # When the task's timeout passes
        runner.join(timeout=30)
        # Then the task failed with a timeout after about that long (and was reverted)
        assert len(errors) == 1
        assert isinstance(errors[0], TaskTimeoutError)
        assert len(failed_at) == 1
        assert 1.4 < failed_at[0] - began < 3
    finally:
        os.kill(frozen.pid, signal.SIGCONT)


def test_a_task_longer_than_its_timeout_times_out(
    broker: str, topic: str, thread_worker: Any
) -> None:
    thread_worker()
    slow = sf.task(_tasks.slow.fn, provides="slow", timeout=0.5)
    with pytest.raises(TaskTimeoutError):
        _run(sf.Linear("t", slow), broker, topic, store={"seconds": 2})


def test_a_task_the_worker_does_not_have_fails_clearly(
    broker: str, topic: str, thread_worker: Any
) -> None:
    # Given a worker that runs only `add`
    thread_worker(_tasks.add)

    @sf.task
    def elsewhere() -> int:
        return 1

    # When asked for a task it was not given, or another version of `add`
    # Then the failure says so (and its revert, which the worker cannot run either)
    with pytest.raises(RevertFailedError, match="UnknownTaskError: this worker does not run "):
        _run(sf.Linear("u", elsewhere), broker, topic)
    add2 = sf.task(_tasks.add.fn, provides="sum", version="2.0")
    with pytest.raises(RevertFailedError, match=r"in versions \['1.0'\], not '2.0'"):
        _run(sf.Linear("v", add2), broker, topic, store={"x": 1, "y": 1})


def test_values_that_are_not_json_fail_the_task(
    broker: str, topic: str, thread_worker: Any
) -> None:
    thread_worker()
    # An input that is not JSON never leaves the engine
    with pytest.raises(MessageError, match="plain JSON"):
        _run(sf.Linear("in", _tasks.add), broker, topic, store={"x": object(), "y": 1})
    # A result that is not JSON comes back as the task's failure
    with pytest.raises(RemoteFailureError, match="MessageError"):
        _run(sf.Linear("out", _tasks.unpicklable), broker, topic)


def test_bad_messages_are_rejected_and_the_worker_carries_on(
    broker: str, topic: str, thread_worker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from steadyflow.workers import _broker, protocol

    kombu = _broker.import_kombu()

    # Given a worker with a small message limit
    worker = thread_worker(max_message_bytes=4096, modules=["workers._tasks"])
    good = protocol.encode(
        "request",
        id="x", task="workers._tasks:add", version="1.0", action="execute", flow_id="f",
        atom="add", element=-1, attempt=1, key="f:add:1", epoch=None, deadline=None,
        reply_to="nowhere", kwargs={"x": 1, "y": 2},
    )  # fmt: skip
    bad = [
        b"\x80\x04pickle",  # not JSON (a pickle, say)
        b"[1, 2]",  # not an object
        good.replace(b'"v":1', b'"v":99'),  # unknown version
        good.replace(b'"attempt":1', b'"attempt":"1"'),  # wrong type
        good.replace(b'"kwargs"', b'"kwarg"'),  # missing field
        good[:-1] + b',"extra":1}',  # unknown field
        good.replace(b'"y":2', b'"y":"' + b"z" * 5000 + b'"'),  # over the limit
    ]
    # When malformed messages land in its queue
    with caplog.at_level(logging.WARNING, "steadyflow.workers"):
        with kombu.Connection(broker) as connection:
            producer = kombu.Producer(connection, serializer=None)
            for body in bad:
                producer.publish(
                    body, exchange=_broker.request_exchange(), routing_key=topic,
                    content_type="application/json", declare=[_broker.request_queue(topic)],
                )  # fmt: skip
        # Then a real flow still runs on it
        assert _run(sf.Linear("ok", _tasks.add), broker, topic, store={"x": 1, "y": 2}) == {
            "sum": 3
        }
    rejected = [r.getMessage() for r in caplog.records if "rejected a message" in r.getMessage()]
    assert len(rejected) == len(bad), rejected
    assert any("unknown protocol version 99" in r for r in rejected)
    assert any("over the limit" in r for r in rejected)
    assert worker.processed == 1


def test_revoke_ends_a_wait_for_workers_at_once(
    broker: str, topic: str, thread_worker: Any, side_log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a run waiting for a 5 s task on a worker
    thread_worker()
    engine = sf.load(
        sf.Linear("r", _tasks.slow),
        store={"seconds": 5},
        engine="workers",
        broker=broker,
        topic=topic,
    )
    errors: list[BaseException] = []
    runner = threading.Thread(target=_catching(engine.run, errors))
    runner.start()
    _wait_for_lines(side_log, 1)
    # When it is revoked from another thread
    began = time.monotonic()
    engine.revoke("enough")
    runner.join(timeout=30)
    # Then the wait ends at once: the run gives the task up and reverts
    assert time.monotonic() - began < 2.5
    assert len(errors) == 1
    assert isinstance(errors[0], sf.FlowRevokedError)
    # And the wake-up that ended the wait was taken for one, not for a bad message
    assert not [r for r in caplog.records if "rejected" in r.getMessage()], caplog.text


def test_workers_announce_themselves_and_their_capacity(
    broker: str, topic: str, thread_worker: Any
) -> None:
    from steadyflow.workers import WorkersExecutor

    # Given an engine's executor listening on the topic
    executor = WorkersExecutor(broker, topic)
    executor._start()
    try:
        # When a worker starts (re-announcing every 10 heartbeats), then stops
        worker = thread_worker(_tasks.add, max_concurrency=3, heartbeat=0.1)
        deadline = time.monotonic() + 10
        while worker.name not in executor.workers and time.monotonic() < deadline:
            executor._drain(0.2)
            executor.take()
        # Then the executor knows it, its capacity and its tasks; and forgets it when it leaves
        announced = executor.workers[worker.name]
        assert announced["capacity"] == 3
        assert announced["tasks"] == [["workers._tasks:add", "1.0"]]
        worker.stop()
        while worker.name in executor.workers and time.monotonic() < deadline:
            executor._drain(0.2)
            executor.take()
        assert worker.name not in executor.workers
    finally:
        executor.close()


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("prefetch", -1, "prefetch must be >= 0, not -1"),
        ("max_concurrency", 0, "max_concurrency must be >= 1, not 0"),
        ("heartbeat", 0, "heartbeat must be a positive number of seconds, not 0"),
    ],
)
def test_a_worker_refuses_a_bad_setting_naming_it(option: str, value: Any, problem: str) -> None:
    from steadyflow.workers import Worker

    options: dict[str, Any] = {option: value}
    with pytest.raises(ValueError, match=problem):
        Worker("amqp://guest:guest@127.0.0.1:5672//", "t", [_tasks.noop], **options)

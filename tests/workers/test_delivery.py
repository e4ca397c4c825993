"""Nothing lost, nothing done twice that needn't be: workers and engines killed for real.

The tasks append ``<event> <idempotency key> <pid> <time>`` lines to a file
(``SF_TEST_LOG``); the assertions read those, not the engine's view.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import steadyflow as sf
from workers import _tasks
from workers.conftest import TESTS_DIR, WorkerProcs

pytestmark = [pytest.mark.rabbitmq, pytest.mark.crash]

HEARTBEAT = 0.5


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()]


def _wait_for(
    path: Path, predicate: Callable[[list[list[str]]], bool], timeout: float = 20
) -> list[list[str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = _lines(path)
        if predicate(lines):
            return lines
        time.sleep(0.01)
    raise AssertionError(f"timed out; {path} holds {path.read_text()!r}")


def _starts(lines: list[list[str]]) -> list[list[str]]:
    return [line for line in lines if line[0] == "start"]


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def call() -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    return thread, outcome


def _slow_engine(broker: str, topic: str, seconds: float) -> sf.Engine:
    return sf.load(
        sf.Linear("slow", _tasks.slow),
        store={"seconds": seconds},
        engine="workers",
        broker=broker,
        topic=topic,
    )


def test_a_killed_worker_s_request_runs_again_elsewhere_under_the_same_key(
    broker: str, topic: str, worker_procs: WorkerProcs, side_log: Path
) -> None:
    # Given two workers, one of them running a 2 s task
    first = worker_procs.start(heartbeat=HEARTBEAT)
    second = worker_procs.start(heartbeat=HEARTBEAT)
    engine = _slow_engine(broker, topic, 2.0)
    runner, outcome = _in_thread(engine.run)
    started = _wait_for(side_log, lambda lines: len(_starts(lines)) == 1)[0]
    victim = int(started[2])
    # When that worker is SIGKILLed mid-task
    os.kill(victim, signal.SIGKILL)
    killed_at = time.time()
    runner.join(timeout=30)
    # Then the other worker ran it again, within three heartbeat intervals, under the same key
    assert outcome == [None]
    lines = _lines(side_log)
    starts = _starts(lines)
    assert len(starts) == 2
    survivor = ({first.pid, second.pid} - {victim}).pop()
    assert int(starts[1][2]) == survivor
    assert starts[1][1] == starts[0][1]  # the idempotency key
    assert float(starts[1][3]) - killed_at < 3 * HEARTBEAT
    # And only the re-run finished, and its result is the one recorded
    assert [(line[0], int(line[2])) for line in lines if line[0] == "end"] == [("end", survivor)]
    assert str(engine.storage.fetch("slow")).startswith(f"{survivor}:")


def _two_slow_engine(broker: str, topic: str, seconds: float) -> sf.Engine:
    """Two slow tasks (the same code, so workers run both) that may run at once."""
    flow = sf.Unordered(
        "pair",
        sf.task(_tasks.slow.fn, name="first", provides="first"),
        sf.task(_tasks.slow.fn, name="second", provides="second"),
    )
    return sf.load(flow, store={"seconds": seconds}, engine="workers", broker=broker, topic=topic)


def test_a_killed_worker_s_request_started_ahead_of_a_runner_runs_elsewhere(
    broker: str, topic: str, worker_procs: WorkerProcs, side_log: Path
) -> None:
    # Given a worker with one runner running one task and the other started ahead (prefetch 1)
    victim = worker_procs.start(concurrency=1, prefetch=1, heartbeat=HEARTBEAT)
    engine = _two_slow_engine(broker, topic, 2.0)
    runner, outcome = _in_thread(engine.run)
    _wait_for(side_log, lambda lines: len(_starts(lines)) == 1)
    time.sleep(0.3)  # the second request reached the worker meanwhile
    # When a second worker comes up and the first is SIGKILLed mid-task
    survivor = worker_procs.start(concurrency=2, heartbeat=HEARTBEAT)
    os.kill(victim.pid, signal.SIGKILL)
    runner.join(timeout=30)
    # Then both tasks ran to their end on the survivor, each once, under their own keys
    assert outcome == [None]
    lines = _lines(side_log)
    ends = [line for line in lines if line[0] == "end"]
    assert sorted(int(line[2]) for line in ends) == [survivor.pid, survivor.pid]
    assert len({line[1] for line in ends}) == 2
    # And the task started ahead of the killed worker's runner never ran there
    assert [int(line[2]) for line in _starts(lines)].count(victim.pid) == 1
    for name in ("first", "second"):
        assert str(engine.storage.fetch(name)).startswith(f"{survivor.pid}:")


def test_sigterm_runs_a_request_started_ahead_of_a_runner_too(
    broker: str, topic: str, worker_procs: WorkerProcs, side_log: Path
) -> None:
    # Given the only worker, one runner, running one task with the other started ahead
    proc = worker_procs.start(concurrency=1, prefetch=1, heartbeat=HEARTBEAT)
    engine = _two_slow_engine(broker, topic, 1.0)
    runner, outcome = _in_thread(engine.run)
    _wait_for(side_log, lambda lines: len(_starts(lines)) == 1)
    time.sleep(0.3)
    # When it is asked to stop (SIGTERM)
    proc.terminate()
    # Then it runs the started one too, both results reach the engine, and it exits cleanly
    runner.join(timeout=30)
    assert outcome == [None]
    assert proc.wait(timeout=10) == 0
    assert [line[0] for line in _lines(side_log)] == ["start", "end", "start", "end"]


def test_sigterm_hands_back_a_request_it_did_not_start(
    broker: str, topic: str, worker_procs: WorkerProcs, side_log: Path
) -> None:
    # Given a worker with one runner and nothing started ahead (prefetch 0), running one
    # task while the other waits with it unacked
    first = worker_procs.start(concurrency=1, prefetch=0, heartbeat=HEARTBEAT)
    engine = _two_slow_engine(broker, topic, 1.0)
    runner, outcome = _in_thread(engine.run)
    _wait_for(side_log, lambda lines: len(_starts(lines)) == 1)
    time.sleep(0.3)
    # When it is asked to stop (SIGTERM) and another worker comes up
    first.terminate()
    second = worker_procs.start(concurrency=1, heartbeat=HEARTBEAT)
    # Then the first finishes its task and exits; the broker gave the other to the second
    runner.join(timeout=30)
    assert outcome == [None]
    assert first.wait(timeout=10) == 0
    ends = [int(line[2]) for line in _lines(side_log) if line[0] == "end"]
    assert sorted(ends) == sorted([first.pid, second.pid])
    assert len(_starts(_lines(side_log))) == 2


def test_a_late_reply_from_a_worker_presumed_dead_is_ignored(
    broker: str,
    topic: str,
    worker_procs: WorkerProcs,
    side_log: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given two workers, one running a 2 s task, followed in the flow by a 3 s one
    first = worker_procs.start(heartbeat=HEARTBEAT)
    second = worker_procs.start(heartbeat=HEARTBEAT)
    engine = sf.load(
        sf.Linear("slow-then-wait", _tasks.slow, _tasks.sleep_ms),
        store={"seconds": 2.0, "ms": 3000},
        engine="workers",
        broker=broker,
        topic=topic,
    )
    with caplog.at_level(logging.INFO, "steadyflow.workers"):
        runner, outcome = _in_thread(engine.run)
        frozen = int(_wait_for(side_log, lambda lines: len(_starts(lines)) == 1)[0][2])
        # When it freezes long enough to be presumed dead, and the task runs again elsewhere...
        os.kill(frozen, signal.SIGSTOP)
        _wait_for(side_log, lambda lines: len(_starts(lines)) == 2)
        # ...then wakes up and replies while the engine still runs (the 3 s task)
        os.kill(frozen, signal.SIGCONT)
        runner.join(timeout=30)
    assert outcome == [None]
    survivor = ({first.pid, second.pid} - {frozen}).pop()
    lines = _lines(side_log)
    assert sorted(int(line[2]) for line in lines if line[0] == "end") == sorted([frozen, survivor])
    # Then its reply was ignored: the result recorded is the re-run's
    assert str(engine.storage.fetch("slow")).startswith(f"{survivor}:")
    late = [r.getMessage() for r in caplog.records if "ignoring a late reply" in r.getMessage()]
    assert len(late) == 1, late
    assert f"from worker {socket.gethostname()}.{frozen}." in late[0]


def _engine_proc(
    broker: str, topic: str, db: Path, flow_id: str, seconds: float
) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(TESTS_DIR))
    script = str(Path(__file__).with_name("_engine_proc.py"))
    return subprocess.Popen(
        [sys.executable, script, broker, topic, str(db), flow_id, str(seconds), "1.0"],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _resume(broker: str, topic: str, db: Path, flow_id: str) -> sf.Engine:
    from workers._engine_proc import flow

    return sf.load(
        flow(),
        store={"seconds": 1.0},
        engine="workers",
        broker=broker,
        topic=topic,
        backend=f"sqlite:///{db}",
        flow_id=flow_id,
        lease_ttl=1.0,
    )


def test_an_engine_killed_mid_task_resumes_and_sends_it_again(
    broker: str, topic: str, worker_procs: WorkerProcs, side_log: Path, tmp_path: Path
) -> None:
    # Given an engine process persisting its flow, whose task runs on a worker
    worker_procs.start(heartbeat=HEARTBEAT)
    db, flow_id = tmp_path / "flows.db", str(uuid.uuid4())
    proc = _engine_proc(broker, topic, db, flow_id, 1.0)
    try:
        _wait_for(side_log, lambda lines: len(_starts(lines)) == 1)
        # When the engine is SIGKILLed while the task is RUNNING
        proc.kill()
    finally:
        proc.communicate()
    time.sleep(1.2)  # its lease expires
    # Then a resumed engine sends the task again, under the same idempotency key
    with _resume(broker, topic, db, flow_id) as engine:
        engine.run()
        result = engine.storage.fetch("slow")
    starts = _starts(_lines(side_log))
    assert len(starts) == 2
    assert starts[0][1] == starts[1][1]
    assert engine.storage.flow_state is sf.FlowState.SUCCESS
    assert isinstance(result, str)


def test_a_reply_to_an_engine_that_lost_its_lease_is_ignored(
    broker: str, topic: str, worker_procs: WorkerProcs, side_log: Path, tmp_path: Path
) -> None:
    # Given an engine process running a 3 s task on a worker
    worker_procs.start(heartbeat=HEARTBEAT, concurrency=2)
    db, flow_id = tmp_path / "flows.db", str(uuid.uuid4())
    proc = _engine_proc(broker, topic, db, flow_id, 3.0)
    try:
        _wait_for(side_log, lambda lines: len(_starts(lines)) == 1)
        # When that engine freezes past its lease, another resumes the flow and finishes it...
        proc.send_signal(signal.SIGSTOP)
        time.sleep(1.5)
        with _resume(broker, topic, db, flow_id) as engine:
            engine.run()
            taken_over = engine.storage.fetch("slow")
        # ...and the first engine wakes up to its worker's reply
        proc.send_signal(signal.SIGCONT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # Then the first engine gave up (lease lost) and its reply changed nothing stored
    assert proc.returncode == 3, out
    with _resume(broker, topic, db, flow_id) as reader:
        reader.prepare()
        assert reader.storage.fetch("slow") == taken_over
    # (the first engine's task ran to its end on the worker all the same)
    _wait_for(side_log, lambda lines: sum(line[0] == "end" for line in lines) == 2)


def test_sigterm_lets_the_running_task_finish_and_reply(
    broker: str, topic: str, worker_procs: WorkerProcs, side_log: Path
) -> None:
    # Given a worker running a 1 s task
    proc = worker_procs.start(heartbeat=HEARTBEAT)
    engine = _slow_engine(broker, topic, 1.0)
    runner, outcome = _in_thread(engine.run)
    _wait_for(side_log, lambda lines: len(_starts(lines)) == 1)
    # When it is asked to stop (SIGTERM)
    proc.terminate()
    # Then the task finishes, its result reaches the engine, and the worker exits cleanly
    runner.join(timeout=30)
    assert outcome == [None]
    assert proc.wait(timeout=10) == 0
    assert [line[0] for line in _lines(side_log)] == ["start", "end"]
    assert str(engine.storage.fetch("slow")).startswith(f"{proc.pid}:")

"""The celery engine with a real ``celery worker`` process (prefork) on RabbitMQ.

No result backend: the generic steadyflow task replies on the engine's own
reply queue. Tasks with side effects append lines to ``SF_TEST_LOG`` (see
workers._tasks); the assertions about what ran where read those.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

import steadyflow as sf
from celery_dask._helpers import (
    Run,
    kill_mid_task_and_check_it_ran_once_more,
    lines,
    revoke_mid_task_and_check_the_revert,
)
from steadyflow.errors import TaskTimeoutError
from steadyflow.events import Event
from workers import _tasks

pytestmark = [pytest.mark.celery, pytest.mark.rabbitmq, pytest.mark.slow]


def test_two_hundred_tasks_of_a_graph_flow_run_on_the_celery_worker(
    celery_app: Any, celery_worker: Any
) -> None:
    # Given a graph flow of 100 independent pairs: whoami -> add (200 tasks)
    flow = sf.Graph("wide")
    for i in range(100):
        flow.add(
            sf.task(_tasks.whoami.fn, name=f"who{i}", provides=f"pid{i}"),
            sf.task(_tasks.add.fn, name=f"add{i}", provides=f"sum{i}", rebind={"x": f"pid{i}"}),
        )
    # When it runs on the celery engine
    results = sf.run(flow, engine="celery", celery_app=celery_app, store={"y": 1})
    # Then every result is there, computed in the Celery worker's children, not here
    pids = {results[f"pid{i}"] for i in range(100)}
    assert all(results[f"sum{i}"] == results[f"pid{i}"] + 1 for i in range(100))
    assert os.getpid() not in pids
    assert celery_worker.proc.pid not in pids  # the prefork children ran them


def test_a_failure_reverts_remotely_and_progress_reaches_listeners(
    celery_app: Any, celery_worker: Any, celery_log: Path
) -> None:
    # Given make (with a revert), a task reporting progress, then a task that raises
    flow = sf.Linear("boom", _tasks.make, _tasks.progress, _tasks.explode)
    engine = sf.load(flow, engine="celery", celery_app=celery_app, store={"x": 4})
    seen: list[float] = []
    engine.notifier.register(
        Event.ATOM_PROGRESS, lambda event, details: seen.append(details["progress"])
    )
    # When it runs on the celery engine
    with pytest.raises(sf.errors.RemoteFailureError, match="boom after 40"):
        engine.run()
    # Then make was reverted in a Celery worker process, under its own key,
    # and the progress reports reached the engine's listeners
    found = lines(celery_log, 2, flow_id=engine.flow_id)
    assert [line[0] for line in found] == ["make", "revert:40"]
    assert found[0][1] == found[1][1]
    assert int(found[1][2]) != os.getpid()
    assert 0.25 in seen
    assert 0.5 in seen


def test_a_task_not_on_the_allowlist_is_refused(celery_app: Any, celery_worker: Any) -> None:
    # Given a task the worker's install() did not allow, and a version it does not run
    @sf.task
    def elsewhere() -> int:
        return 1

    add2 = sf.task(_tasks.add.fn, provides="sum", version="2.0")
    # When they run on the celery engine
    # Then each fails saying what the worker runs instead, and nothing ran
    with pytest.raises(Exception, match="UnknownTaskError: this worker does not run "):
        sf.run(sf.Linear("u", elsewhere), engine="celery", celery_app=celery_app)
    with pytest.raises(Exception, match=r"in versions \['1.0'\], not '2.0'"):
        sf.run(sf.Linear("v", add2), engine="celery", celery_app=celery_app, store={"x": 1, "y": 1})


def test_a_celery_worker_killed_mid_task_runs_it_again_and_records_it_once(
    celery_app: Any, celery_worker: Any, celery_log: Path
) -> None:
    # Given a flow whose slow task runs in a child of the Celery worker
    engine = sf.load(
        sf.Linear("k", _tasks.slow), engine="celery", celery_app=celery_app, store={"seconds": 2}
    )
    # When the process running it is SIGKILLed mid-task
    # Then it ran again under the same key elsewhere; the flow completed with the one
    # result that ended
    kill_mid_task_and_check_it_ran_once_more(engine, celery_log)


def test_a_late_reply_from_a_frozen_celery_child_is_ignored(
    celery_app: Any, celery_worker: Any, celery_log: Path
) -> None:
    # Given a slow task running in a Celery child (heartbeats every 2 s)
    engine = sf.load(
        sf.Linear("f", _tasks.slow), engine="celery", celery_app=celery_app, store={"seconds": 2}
    )
    run = Run(engine)
    frozen = int(lines(celery_log, 1, flow_id=engine.flow_id)[0][2])
    # When that child freezes (SIGSTOP) long enough for the engine to presume it dead,
    # and then wakes up and finishes after the request was sent again
    os.kill(frozen, signal.SIGSTOP)
    try:
        second = lines(celery_log, 2, flow_id=engine.flow_id)[1]
    finally:
        os.kill(frozen, signal.SIGCONT)
    # Then the task ran again under the same key in the other child, both runs ended,
    # and only the awaited one's result was recorded
    assert run.join() == []
    assert second[0] == "start"
    assert int(second[2]) != frozen
    ends = [line for line in lines(celery_log, 4, flow_id=engine.flow_id) if line[0] == "end"]
    assert sorted(int(line[2]) for line in ends) == sorted([frozen, int(second[2])])
    assert str(engine.storage.fetch("slow")).startswith(f"{second[2]}:")


def test_a_revoke_wakes_the_engine_and_reverts_on_the_celery_worker(
    celery_app: Any, celery_worker: Any, celery_log: Path, tmp_path: Path
) -> None:
    # Given a persisted flow on the celery engine: make, then a 10 s task
    # When it is revoked from another process while that task runs on a Celery worker
    # Then the engine stops waiting for it, and make is reverted on the worker
    revoke_mid_task_and_check_the_revert(
        celery_log, tmp_path, engine="celery", celery_app=celery_app
    )


def test_a_task_past_its_timeout_fails_while_the_celery_worker_runs_on(
    celery_app: Any, celery_worker: Any
) -> None:
    # Given a task that sleeps 3 s with a 0.5 s timeout (the engine's own rule)
    sleepy = sf.task(_tasks.sleep_ms.fn, timeout=0.5)
    engine = sf.load(
        sf.Linear("t", sleepy), engine="celery", celery_app=celery_app, store={"ms": 3000}
    )
    failed_at: list[float] = []

    def on_state(event: Event, details: Any) -> None:
        if details["state"] == sf.AtomState.FAILURE:
            failed_at.append(time.monotonic())

    engine.notifier.register(Event.ATOM_STATE, on_state)
    began = time.monotonic()
    # When it runs on the celery engine
    with pytest.raises(TaskTimeoutError):
        engine.run()
    # Then the task failed at its timeout, not when it ended on the worker (its revert
    # may then wait for a free Celery child)
    assert len(failed_at) == 1
    assert failed_at[0] - began < 2.5


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_a_whole_celery_worker_killed_mid_task_hands_it_to_another(
    celery_fleet: Any, side_log: Path
) -> None:
    # Given two Celery workers on one queue, and a slow task running in one of them
    app, workers = celery_fleet(2)
    engine = sf.load(
        sf.Linear("k", _tasks.slow), engine="celery", celery_app=app, store={"seconds": 2}
    )
    masters = {worker.proc.pid for worker in workers}

    def kill_worker(pid: int) -> None:
        # When that worker's main process is SIGKILLed (its broker connection drops with it),
        # and then its pool child running the task
        master = _parent(pid)
        assert master in masters
        os.kill(master, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)

    # Then the broker delivered the unacked request to the other worker, which ran it
    # under the same key; the flow completed with that one result
    kill_mid_task_and_check_it_ran_once_more(engine, side_log, kill_worker)

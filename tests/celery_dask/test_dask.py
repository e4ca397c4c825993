"""The dask engine on a real LocalCluster of two worker processes.

Tasks with side effects append lines to ``SF_TEST_LOG`` (see workers._tasks);
the assertions about what ran where read those, not the engine's view.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

import steadyflow as sf
from celery_dask import _remote_env
from celery_dask._helpers import (
    kill_mid_task_and_check_it_ran_once_more,
    lines,
    revoke_mid_task_and_check_the_revert,
)
from steadyflow.errors import RemoteFailureError, UnknownTaskError
from workers import _tasks

pytestmark = [pytest.mark.dask, pytest.mark.slow]


@pytest.fixture
def dask_log(side_log: Path, dask_client: Any) -> Path:
    """The side-effect file, named to the Dask workers too (they outlive one test)."""
    dask_client.run(_remote_env.set_env, "SF_TEST_LOG", str(side_log))
    return side_log


def test_two_hundred_tasks_of_a_graph_flow_run_over_both_workers(dask_client: Any) -> None:
    # Given a graph flow of 100 independent pairs: whoami -> add (200 tasks)
    flow = sf.Graph("wide")
    for i in range(100):
        flow.add(
            sf.task(_tasks.whoami.fn, name=f"who{i}", provides=f"pid{i}"),
            sf.task(_tasks.add.fn, name=f"add{i}", provides=f"sum{i}", rebind={"x": f"pid{i}"}),
        )
    # When it runs on the dask engine
    results = sf.run(flow, engine="dask", client=dask_client, store={"y": 1})
    # Then every result is there, and the tasks ran in both worker processes, not here
    pids = {results[f"pid{i}"] for i in range(100)}
    assert all(results[f"sum{i}"] == results[f"pid{i}"] + 1 for i in range(100))
    assert len(pids) == 2
    assert os.getpid() not in pids


def test_a_failure_reverts_remotely_and_keeps_its_chain(dask_client: Any, dask_log: Path) -> None:
    # Given make (with a revert) followed by a task that raises
    flow = sf.Linear("boom", _tasks.make, _tasks.explode)
    # When it runs on the dask engine
    with pytest.raises(RemoteFailureError) as caught:
        sf.run(flow, engine="dask", client=dask_client, store={"x": 4})
    # Then the error is the task's, with its cause, and make was reverted on a worker
    assert "boom after 40" in str(caught.value)
    found = lines(dask_log, 2)
    assert [line[0] for line in found] == ["make", "revert:40"]
    assert found[0][1] == found[1][1]  # the same idempotency key
    assert int(found[1][2]) != os.getpid()


def test_a_task_not_importable_on_the_workers_fails_naming_it(dask_client: Any) -> None:
    # Given a task the workers cannot import (not a module-level name)
    @sf.task
    def nested() -> int:
        return 1

    flow = sf.Linear("odd", nested)
    # When it runs on the dask engine
    with pytest.raises(Exception) as caught:
        sf.run(flow, engine="dask", client=dask_client)
    # Then the failure names the task and its module
    assert "task nested (celery_dask.test_dask:test_a_task_not_importable" in str(caught.value)
    assert "module 'celery_dask.test_dask' defines no such task" in str(caught.value)


def test_a_module_the_workers_cannot_import_is_named(dask_client: Any) -> None:
    # Given a task defined in a module the Dask workers do not have
    def local_only() -> int:
        return 1

    local_only.__module__ = "sf_not_installed_anywhere"
    flow = sf.Linear("odd", sf.task(local_only))
    # When it runs on the dask engine
    with pytest.raises(Exception, match="sf_not_installed_anywhere") as caught:
        sf.run(flow, engine="dask", client=dask_client)
    # Then the failure says which task and that its module is not importable there
    assert UnknownTaskError.__name__ in str(caught.value)
    assert "local_only" in str(caught.value)
    assert "cannot be imported" in str(caught.value)


def test_a_timeout_cancels_the_future(dask_client: Any, dask_log: Path) -> None:
    # Given a task that takes 3 s with a 0.5 s timeout
    slow = sf.task(_tasks.slow.fn, provides="slow", timeout=0.5)
    began = time.monotonic()
    # When it runs on the dask engine
    with pytest.raises(TimeoutError):
        sf.run(sf.Linear("t", slow), engine="dask", client=dask_client, store={"seconds": 3})
    # Then the run failed at the timeout, not when the task would have ended
    assert time.monotonic() - began < 2.5


def test_a_worker_killed_mid_task_reruns_it_once_under_the_same_key(
    dask_client: Any, dask_log: Path
) -> None:
    # Given a flow whose slow task runs on a Dask worker process
    engine = sf.load(
        sf.Linear("k", _tasks.slow), engine="dask", client=dask_client, store={"seconds": 2}
    )
    # When the process running it is SIGKILLed mid-task
    # Then it ran again under the same key elsewhere; the flow completed with the one
    # result that ended
    kill_mid_task_and_check_it_ran_once_more(engine, dask_log)


def test_a_revoke_cancels_the_running_future_and_reverts(
    dask_client: Any, dask_log: Path, tmp_path: Path
) -> None:
    # Given a persisted flow on the dask engine: make, then a 10 s task
    # When it is revoked (from another process) while that task runs on a worker
    # Then the run stops without waiting for it, and make is reverted remotely
    revoke_mid_task_and_check_the_revert(dask_log, tmp_path, engine="dask", client=dask_client)


def test_a_scheduler_address_is_enough(dask_client: Any) -> None:
    # Given only the address of the cluster's scheduler
    address = dask_client.scheduler.address
    # When a flow runs on the dask engine with it
    results = sf.run(
        sf.Linear("a", _tasks.add), engine="dask", client=address, store={"x": 1, "y": 1}
    )
    # Then the engine connected on its own, and the task ran on a worker
    assert results == {"sum": 2}

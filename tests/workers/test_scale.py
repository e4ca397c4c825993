"""Many tasks over several worker processes, and the Redis transport."""

from __future__ import annotations

import time
from typing import Any

import pytest

import steadyflow as sf
from workers import _tasks
from workers.conftest import WorkerProcs


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_a_thousand_tasks_over_two_worker_processes(
    broker: str, topic: str, worker_procs: WorkerProcs
) -> None:
    # Given two worker processes
    pids = {worker_procs.start(concurrency=4).pid, worker_procs.start(concurrency=4).pid}
    # When a flow of 1,000 independent tasks runs (each returns the pid it ran in)
    flow = sf.Unordered(
        "many", *(sf.task(_tasks.whoami.fn, name=f"w{i}", provides=f"p{i}") for i in range(1000))
    )
    began = time.monotonic()
    results = sf.run(flow, engine="workers", broker=broker, topic=topic)
    elapsed = time.monotonic() - began
    # Then every one ran once, on one of the two, and both took a share
    assert len(results) == 1000
    ran_on = list(results.values())
    assert set(ran_on) == pids
    assert min(ran_on.count(pid) for pid in pids) > 100
    assert elapsed < 60


@pytest.mark.redis
def test_the_redis_transport_runs_a_flow_and_its_revert(
    redis_broker: str, topic: str, thread_worker: Any
) -> None:
    # Given a worker on Redis
    worker = thread_worker(url=redis_broker)
    # When a flow runs there, and one that fails and reverts
    results = sf.run(
        sf.Linear("r", _tasks.add, sf.Map(_tasks.square, provides="squares")),
        store={"x": 1, "y": 2, "items": [2, 3]},
        engine="workers",
        broker=redis_broker,
        topic=topic,
    )
    # Then results come back, and failures too, with a remote revert
    assert results == {"sum": 3, "squares": [4, 9]}
    with pytest.raises(sf.errors.RemoteFailureError, match="boom after 10"):
        sf.run(
            sf.Linear("bad", _tasks.make, _tasks.explode),
            store={"x": 1},
            engine="workers",
            broker=redis_broker,
            topic=topic,
        )
    # add and 2 elements; make, explode, and both their reverts
    assert worker.processed == 3 + 4

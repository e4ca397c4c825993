"""Conductor processes at work on a Redis board whose server is killed and restarted.

Issue 11's promise for a board's service restarting under conductors: no job
lost, none doubly completed, every flow step run exactly once (counted from
the tasks' own effects). The server is a redis-server of the test's own that
keeps its data (tests/jobs/_private_redis.py: append-only file, fsync on
every write), SIGKILLed and restarted twice mid-run; the shared Redis is
never touched.

The conductors and their test farm (tests/conductors/_farm.py, _flows.py,
conftest.py) come from the conductors' branch: until both are in the tree,
this module skips; its helpers are reached through ``importorskip``, so it
type-checks either way.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs import _redis_service
from jobs._boards import unique_name
from jobs._private_redis import PrivateRedis, private_redis
from steadyflow.errors import BackendUnavailableError
from steadyflow.jobs import JobBoard, JobState, open_board

pytest.importorskip("steadyflow.conductors", reason="the conductors are not in this tree")
_farm = pytest.importorskip("conductors._farm", reason="the conductor test farm is not here")
_flows = pytest.importorskip("conductors._flows", reason="the conductor test farm is not here")
_conftest = pytest.importorskip("conductors.conftest", reason="the conductor tests are not here")

pytestmark = [pytest.mark.redis, pytest.mark.crash, pytest.mark.slow]

JOBS = 200
TTL = 2.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    _redis_service.require()
    directory = tmp_path / "redis"
    directory.mkdir()
    with private_redis(directory) as started:
        yield started


def post(board: JobBoard, job: str, log: str) -> str:
    """Post ``job``, again while the server restarts: keyed, so a lost reply makes no twin."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return board.post(
                job, factory=_conftest.FACTORY, args=[log, job], kwargs={"steps": 2}, key=job
            ).id
        except BackendUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def all_done(board: JobBoard) -> bool:
    try:
        states = [job.state for job in board.iter_jobs()]
    except BackendUnavailableError:
        return False
    return len(states) == JOBS and set(states) == {JobState.DONE}


def test_conductors_lose_no_job_and_run_none_twice_across_redis_restarts(
    server: PrivateRedis, tmp_path: Path, log: str
) -> None:
    name = unique_name("redis")
    farm = _farm.Farm(server.url, name, f"sqlite:///{tmp_path}/flows.db")
    try:
        with open_board(server.url, name=name) as board:
            # Given two conductor processes draining a Redis board while jobs are posted
            for i in range(JOBS // 4):
                post(board, f"j{i}", log)
            processes = [farm.start(f"c{i}", ttl=TTL, concurrent=2) for i in range(2)]
            for i in range(JOBS // 4, JOBS):
                post(board, f"j{i}", log)
                # When the server is SIGKILLed and restarted twice in the middle
                if i in (JOBS // 2, 3 * JOBS // 4):
                    server.restart()
            # Then every job ends DONE ...
            _conftest.wait_until(lambda: all_done(board), timeout=90)
            for process in processes:
                farm.terminate(process)
        # ... and every step of every job's flow ran exactly once
        ran = Counter((who, step) for event, who, step in _flows.effects(log) if event == "exec")
        assert {who for who, _ in ran} == {f"j{i}" for i in range(JOBS)}
        assert set(ran.values()) == {1}
    finally:
        farm.close()

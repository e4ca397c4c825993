"""Conductors as real processes on every cross-process board: kill them, freeze them, race them.

The board kinds come from tests/jobs/_boards.py (each kind that other
processes can open); the flows live in one SQLite store. Every verdict is
taken from the tasks' own log of effects (conductors._flows), never from
what a conductor says it did.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobs import _boards
from steadyflow.jobs import JobBoard, JobState
from steadyflow.persistence import open_backend
from steadyflow.states import FlowState

from ._farm import Farm
from ._flows import effects
from .conftest import FACTORY, wait_until

pytestmark = pytest.mark.crash

TTL = 1.0

CROSS_PROCESS = [
    pytest.param(name, marks=kind.marks, id=name)
    for name, kind in _boards.KINDS.items()
    if kind.cross_process
]


@pytest.fixture(params=CROSS_PROCESS)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_boards.BoardSite]:
    with _boards.KINDS[request.param].make(tmp_path) as opened:
        yield opened


@pytest.fixture
def board(site: _boards.BoardSite) -> JobBoard:
    return site.open()


@pytest.fixture
def farm(site: _boards.BoardSite, tmp_path: Path) -> Iterator[Farm]:
    assert site.url is not None
    made = Farm(site.url, site.name, f"sqlite:///{tmp_path}/flows.db")
    try:
        yield made
    finally:
        made.close()


def post(board: JobBoard, log: str, job: str, **kwargs: Any) -> str:
    return board.post(job, factory=FACTORY, args=[log, job], kwargs=kwargs).id


def execs(log: str, job: str) -> Counter[str]:
    return Counter(step for event, who, step in effects(log) if event == "exec" and who == job)


def release(log: str) -> None:
    Path(f"{log}.release").touch()


@pytest.mark.slow
@pytest.mark.parametrize("conductors", [2, 4])
def test_conductors_racing_over_1000_jobs_run_each_flow_once(
    board: JobBoard, farm: Farm, log: str, conductors: int
) -> None:
    # Given 1,000 one-step jobs, and one more posted twice with one key
    for i in range(1000):
        post(board, log, f"r{i}", steps=1)
    keyed = {
        board.post("k", factory=FACTORY, args=[log, "k"], kwargs={"steps": 1}, key="k").id
        for _ in range(2)
    }
    # When several conductor processes drain the board together
    processes = [farm.start(f"c{i}", concurrent=2, idle_timeout=1.5) for i in range(conductors)]
    stats = [farm.statistics(process, timeout=240) for process in processes]
    # Then every job's flow ran exactly once, counted from the tasks' own effects
    ran = Counter(who for event, who, _ in effects(log) if event == "exec")
    assert len(keyed) == 1
    assert set(ran.values()) == {1}
    assert len(ran) == 1001
    assert {job.state for job in board.iter_jobs()} == {JobState.DONE}
    assert sum(s["completed"] for s in stats) == 1001
    assert all(s["completed"] > 0 for s in stats), stats


def test_a_killed_conductors_job_is_taken_over_within_the_ttl_and_resumed(
    board: JobBoard, farm: Farm, log: str
) -> None:
    # Given a job holding in its second step on one conductor, and a second conductor idle
    job = post(board, log, "boot", steps=4, hold=1)
    first = farm.start("first", ttl=TTL)
    wait_until(lambda: execs(log, "boot")["s1"] == 1)
    farm.start("second", ttl=TTL)
    # When the first is SIGKILLed
    first.kill()
    killed_at = time.monotonic()
    # Then the second takes the job over within the TTL plus 2 s and resumes it:
    # the step that was running runs again, the finished one does not
    wait_until(lambda: execs(log, "boot")["s1"] == 2, timeout=TTL + 5)
    assert time.monotonic() - killed_at < TTL + 2
    release(log)
    wait_until(lambda: board.get(job).state is JobState.DONE)
    assert execs(log, "boot") == {"s0": 1, "s1": 2, "s2": 1, "s3": 1}


def test_a_frozen_conductors_late_writes_are_refused_and_it_drops_the_job(
    board: JobBoard, farm: Farm, log: str, tmp_path: Path
) -> None:
    # Given a job holding in its second step on one conductor, and a second one idle
    job = post(board, log, "frozen", steps=4, hold=1)
    first = farm.start("first", ttl=TTL)
    wait_until(lambda: execs(log, "frozen")["s1"] == 1)
    second = farm.start("second", ttl=TTL)
    # When the first is SIGSTOPped past its TTL and the second takes the job over
    first.send_signal(signal.SIGSTOP)
    wait_until(lambda: execs(log, "frozen")["s1"] == 2, timeout=TTL + 5)
    # ...and then the first is continued and its held step ends too
    first.send_signal(signal.SIGCONT)
    time.sleep(TTL / 2)
    release(log)
    wait_until(lambda: board.get(job).state is JobState.DONE)
    # Then the first noticed it lost the claim and stopped: nothing after s1 ran twice
    assert farm.terminate(first)["lost"] == 1
    assert farm.terminate(second)["completed"] == 1
    assert execs(log, "frozen") == {"s0": 1, "s1": 2, "s2": 1, "s3": 1}
    with open_backend(farm.backend_url) as backend:
        assert backend.get_flow_detail(board.get(job).flow_id).state is FlowState.SUCCESS


def test_a_poison_job_that_kills_its_conductor_ends_trashed_after_max_claims(
    board: JobBoard, farm: Farm, log: str
) -> None:
    # Given a job whose second step kills the conductor running it
    job = post(board, log, "poison", steps=3, kill=1)
    # When conductors allowing two claims keep being restarted until the job ends
    deadline = time.monotonic() + 30
    while board.get(job).state is not JobState.TRASHED:
        assert time.monotonic() < deadline, "the poison job was not trashed"
        process = farm.start("restarted", ttl=0.5, max_claims=2, idle_timeout=0.5)
        process.wait(timeout=30)
    # Then it ran twice, was not claimed a fourth time, and says why it was trashed
    trashed = board.get(job)
    assert execs(log, "poison") == {"s0": 1, "s1": 2}
    assert trashed.claims == 3
    assert trashed.reason is not None
    assert "more than max_claims=2" in trashed.reason


def test_a_task_longer_than_the_ttl_runs_once_among_conductors(
    board: JobBoard, farm: Farm, log: str
) -> None:
    job = post(board, log, "long", steps=2, sleep=2.5 * TTL)
    processes = [farm.start(f"c{i}", ttl=TTL, idle_timeout=1.0) for i in range(2)]
    for process in processes:
        farm.statistics(process)
    assert execs(log, "long") == {"s0": 1, "s1": 1}
    done = board.get(job)
    assert (done.state, done.claims) == (JobState.DONE, 1)


def test_revoking_a_job_on_a_conductor_process_reverts_and_trashes_it(
    board: JobBoard, farm: Farm, log: str
) -> None:
    job = post(board, log, "tenant", steps=3, hold=1)
    process = farm.start("c", ttl=TTL)
    wait_until(lambda: execs(log, "tenant")["s1"] == 1)
    board.revoke(job, "tenant deleted")
    time.sleep(TTL / 2)
    release(log)
    wait_until(lambda: board.get(job).state is JobState.TRASHED)
    farm.terminate(process)
    reverted = [step for event, who, step in effects(log) if event == "revert"]
    assert reverted[-1] == "s0"
    assert "s2" not in execs(log, "tenant")
    assert board.get(job).reason == "tenant deleted"


def test_sigterm_hands_running_jobs_back_and_another_conductor_finishes_them(
    board: JobBoard, farm: Farm, log: str
) -> None:
    job = post(board, log, "drained", steps=3, hold=1)
    first = farm.start("first", ttl=TTL)
    wait_until(lambda: execs(log, "drained")["s1"] == 1)
    first.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    release(log)
    assert farm.statistics(first)["handed_back"] == 1
    assert board.get(job).state is JobState.UNCLAIMED
    farm.statistics(farm.start("second", ttl=TTL, idle_timeout=0.5))
    assert execs(log, "drained") == {"s0": 1, "s1": 1, "s2": 1}
    assert board.get(job).state is JobState.DONE


def test_the_worker_is_a_real_process(farm: Farm) -> None:
    process = farm.start("alone", idle_timeout=0.1)
    assert process.pid != os.getpid()
    assert farm.statistics(process)["claimed"] == 0

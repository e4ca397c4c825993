"""Checks shared by the ZooKeeper and etcd board tests: a service restart under load,
and a SIGSTOPped claimer losing its claim after the ttl."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

import pytest

from steadyflow.errors import BackendUnavailableError
from steadyflow.jobs import Claim, ClaimLostError, JobState

if TYPE_CHECKING:
    from collections.abc import Callable

    from steadyflow.jobs import JobBoard

FACTORY = "farm.flows:noop"


def work_through_a_restart(
    open_board: Callable[[], JobBoard], restart: Callable[[], None], jobs: int = 60
) -> tuple[Counter[str], set[str], JobBoard]:
    """Three claimers work ``jobs`` jobs while the service restarts once.

    Returns how many times each job was completed successfully, the posted ids,
    and a board to inspect the result with.
    """
    board = open_board()
    posted = {board.post(f"job-{i}", factory=FACTORY).id for i in range(jobs)}
    completed: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def claimer(owner: str) -> None:
        mine = open_board()
        try:
            while not stop.is_set():
                try:
                    claim = mine.claim(owner, 3.0, wait=0.5)
                except BackendUnavailableError:
                    time.sleep(0.1)
                    continue
                if claim is None:
                    continue
                time.sleep(0.05)  # the job's work
                if complete(claim):
                    with lock:
                        completed[claim.job.id] += 1
        finally:
            mine.close()

    threads = [threading.Thread(target=claimer, args=(f"c{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        restart()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and set(completed) != posted:
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    return completed, posted, board


def complete(claim: Claim) -> bool:
    """Complete ``claim``, trying again while the service is away (a try whose answer was
    lost may have been applied: the board recognises its own hand-over); False if lost."""
    deadline = time.monotonic() + 30
    while True:
        try:
            claim.complete()
            return True
        except ClaimLostError:
            return False
        except BackendUnavailableError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


def assert_each_done_once(completed: Counter[str], posted: set[str], board: JobBoard) -> None:
    assert set(completed) == posted, f"{len(posted - set(completed))} jobs never completed"
    assert set(completed.values()) == {1}, "a job was completed twice"
    assert {job.id for job in board.iter_jobs(JobState.DONE)} == posted


_SLEEPER = """
import sys, time
from steadyflow.jobs import open_board
from steadyflow.jobs.base import ClaimLostError
with open_board(sys.argv[1], name=sys.argv[2]) as board:
    claim = board.claim("sleeper", float(sys.argv[3]))
    print("claimed", claim.epoch, flush=True)
    sys.stdin.readline()  # the test SIGSTOPs us here, and later SIGCONTs and writes a line
    try:
        claim.renew()
        print("renewed", flush=True)
    except ClaimLostError:
        print("lost", flush=True)
"""


def sigstopped_claimer_loses_its_claim(url: str, name: str, board: JobBoard, ttl: float) -> None:
    """A claimer SIGSTOPped past its ttl: the job is taken over; continued, it learns it lost."""
    job = board.post("job", factory=FACTORY)
    with subprocess.Popen(
        [sys.executable, "-c", _SLEEPER, url, name, str(ttl)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            _take_over_from(child, board, job.id, ttl)
        finally:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()


def _take_over_from(child: subprocess.Popen[str], board: JobBoard, job_id: str, ttl: float) -> None:
    assert child.stdout is not None
    assert child.stdin is not None
    first = child.stdout.readline().split()
    assert first[0] == "claimed"
    os.kill(child.pid, signal.SIGSTOP)
    # While the claim runs nobody gets the job; after its ttl someone does.
    assert board.claim("heir", 30) is None
    heir = board.claim("heir", 30, wait=ttl + 10)
    assert heir is not None
    assert heir.job.id == job_id
    assert heir.epoch > int(first[1])
    os.kill(child.pid, signal.SIGCONT)
    child.stdin.write("go\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "lost"
    heir.complete()
    assert board.get(job_id).state is JobState.DONE


def a_retried_hand_over_is_recognised(board: JobBoard, sender: str) -> None:
    """A complete applied by the service whose answer was lost: trying again succeeds.

    ``sender`` names the board method that sends one transaction: it is wrapped to
    send, then fail as a dropped connection would.
    """
    job = board.post("job", factory=FACTORY)
    claim = board.claim("a", 30)
    assert claim is not None
    send = getattr(board, sender)

    def send_then_drop(*args: object) -> None:
        send(*args)
        raise BackendUnavailableError("connection dropped after sending")

    # Given a complete that reached the service, whose answer was lost
    setattr(board, sender, send_then_drop)
    try:
        with pytest.raises(BackendUnavailableError):
            claim.complete()
    finally:
        delattr(board, sender)
    # When it is tried again it succeeds: the job is done, with this claim's epoch
    claim.complete()
    assert board.get(job.id).state is JobState.DONE
    assert board.get(job.id).epoch == claim.epoch

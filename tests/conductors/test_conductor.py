"""A conductor's logic, on the memory board with a SQLite store, conductors on threads.

Every assertion about what ran is made on the tasks' own log of effects
(conductors._flows), never on what the conductor says it did.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.conductors import Conductor, Outcome
from steadyflow.conductors._run import JobRun, Settings, Verdict
from steadyflow.errors import BackendUnavailableError
from steadyflow.jobs import Claim, ClaimLostError, Job, JobState
from steadyflow.jobs.memory import MemoryBoard
from steadyflow.persistence import Backend
from steadyflow.states import FlowState

from ._flows import chain, effects
from .conftest import FACTORY, Running, wait_until

TTL = 1.0


def post(board: MemoryBoard, log: str, job: str, **kwargs: Any) -> Job:
    return board.post(job, factory=FACTORY, args=[log, job], kwargs=kwargs)


def conductor(board: MemoryBoard, backend: Backend, **options: Any) -> Conductor:
    settings: dict[str, Any] = {"ttl": TTL, "abandon_delay": 0.05, "name": "c", **options}
    return Conductor(board, backend, **settings)


def execs(log: str, job: str) -> Counter[str]:
    return Counter(step for event, who, step in effects(log) if event == "exec" and who == job)


def reverts(log: str, job: str) -> list[str]:
    return [step for event, who, step in effects(log) if event == "revert" and who == job]


def release(log: str) -> None:
    Path(f"{log}.release").touch()


def test_jobs_run_to_success_once_each_and_are_completed(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    # Given five jobs
    jobs = [post(board, log, f"j{i}") for i in range(5)]
    # When a conductor drains the board
    runner = conductor(board, backend, max_concurrent=2)
    runner.run(idle_timeout=0.3, handle_signals=False)
    # Then every step of every job ran once and every job is DONE
    for job in jobs:
        assert execs(log, job.name) == {"s0": 1, "s1": 1, "s2": 1}
        assert board.get(job.id).state is JobState.DONE
        assert backend.get_flow_detail(job.flow_id).state is FlowState.SUCCESS
    assert runner.statistics().completed == 5
    assert runner.statistics().claimed == 5


def test_a_busy_conductor_claims_its_next_job_as_it_completes_one(
    board: MemoryBoard, backend: Backend, log: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given six jobs, and a board that counts its complete-and-claim steps
    fused: list[str] = []
    finish_and_claim = board._finish_and_claim

    def counted(claim: Claim) -> tuple[str | None, Claim | None]:
        fused.append(claim.job.id)
        return finish_and_claim(claim)

    monkeypatch.setattr(board, "_finish_and_claim", counted)
    jobs = [post(board, log, f"j{i}") for i in range(6)]
    # When a conductor with one slot drains the board
    runner = conductor(board, backend, max_concurrent=1)
    runner.run(idle_timeout=0.3, handle_signals=False)
    # Then each job ran once and is DONE, and every completion claimed the next in one step
    for job in jobs:
        assert execs(log, job.name) == {"s0": 1, "s1": 1, "s2": 1}
        assert board.get(job.id).state is JobState.DONE
    assert fused == [job.id for job in jobs]
    assert runner.statistics().completed == 6
    assert runner.statistics().claimed == 6


def test_a_next_job_claimed_as_the_conductor_stops_is_handed_back(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    # Given a conductor that was asked to stop, and a job it claimed in the same moment
    job = post(board, log, "late")
    runner = conductor(board, backend)
    claim = board.claim(runner.owner, TTL)
    assert claim is not None
    runner.stop()
    # When the claim reaches it
    runner._take_successor(claim, time.monotonic())
    # Then the job is handed back at once, nothing of it having run
    stored = board.get(job.id)
    assert (stored.state, stored.owner) == (JobState.UNCLAIMED, None)
    assert execs(log, "late") == {}
    assert runner.statistics().claimed == 0


def test_a_clean_revert_completes_the_job(board: MemoryBoard, backend: Backend, log: str) -> None:
    job = post(board, log, "failing", fail=2)
    runner = conductor(board, backend)
    runner.run(idle_timeout=0.3, handle_signals=False)
    assert reverts(log, "failing") == ["s2", "s1", "s0"]
    assert board.get(job.id).state is JobState.DONE
    assert backend.get_flow_detail(job.flow_id).state is FlowState.REVERTED
    assert runner.statistics().reverted == 1


def test_a_failed_revert_trashes_the_job_at_once(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    job = post(board, log, "stuck", fail=2, fail_revert=1)
    conductor(board, backend, max_claims=5).run(idle_timeout=0.3, handle_signals=False)
    trashed = board.get(job.id)
    assert trashed.state is JobState.TRASHED
    assert trashed.claims == 1
    assert trashed.reason is not None
    assert "FAILURE" in trashed.reason
    assert "revert of s1" in trashed.reason


def test_a_poison_job_is_trashed_after_max_claims_not_cycled(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    # Given a job whose factory always fails
    job = board.post("poison", factory="conductors._flows:broken", args=[log, "poison"])
    # When a conductor allowing three claims drains the board
    conductor(board, backend, max_claims=3).run(idle_timeout=0.5, handle_signals=False)
    # Then the factory was tried three times and the job is dead-lettered with the failure
    builds = [e for e in effects(log) if e[0] == "build"]
    assert len(builds) == 3
    trashed = board.get(job.id)
    assert trashed.state is JobState.TRASHED
    assert trashed.claims == 3
    assert trashed.reason is not None
    assert "the factory of poison is broken" in trashed.reason


def test_a_job_claimed_too_often_is_trashed_with_its_flows_last_failure(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    # Given a job whose flow failed in a way nobody recorded as an end
    # (conductors that died with it), claimed max_claims times already
    job = post(board, log, "cycling")
    for _ in range(2):
        claim = board.claim("dying-conductor", 5)
        assert claim is not None
        claim.abandon()
    # When a conductor with max_claims=2 claims it a third time
    conductor(board, backend, max_claims=2).run(idle_timeout=0.3, handle_signals=False)
    # Then it is trashed without running, saying why
    trashed = board.get(job.id)
    assert trashed.state is JobState.TRASHED
    assert trashed.reason is not None
    assert "claimed 3 times, more than max_claims=2" in trashed.reason
    assert "never stored" in trashed.reason
    assert execs(log, "cycling") == Counter()


def test_a_task_longer_than_the_ttl_runs_once(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    # Given a job whose step takes three claim TTLs, running on a conductor
    slow = post(board, log, "slow", steps=1, sleep=3 * 1.0)
    running = Running(conductor(board, backend, ttl=1.0))
    wait_until(lambda: execs(log, "slow")["s0"] == 1)
    # When a rival claims whatever it can meanwhile
    rival_claims: list[Claim] = []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        claim = board.claim("rival", 1.0)
        if claim is not None:
            rival_claims.append(claim)
        time.sleep(0.05)
    wait_until(lambda: board.get(slow.id).state is JobState.DONE)
    running.stop()
    # Then the claim was renewed all along: the rival never got it, the step ran once
    assert rival_claims == []
    assert execs(log, "slow") == {"s0": 1}
    assert board.get(slow.id).claims == 1


class SlowRenewals(MemoryBoard):
    """A memory board whose renewals can be held up, as a frozen conductor's would be."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.frozen = threading.Event()
        self.frozen.set()

    def _renew(self, claim: Claim) -> tuple[float, str | None]:
        if claim.owner.startswith("frozen"):
            self.frozen.wait()
        return super()._renew(claim)


def test_a_conductor_that_lost_its_claim_stops_and_its_late_writes_are_refused(
    backend: Backend, log: str, start: Callable[..., Running]
) -> None:
    board = SlowRenewals("lost-claims")
    # Given a job held by a conductor whose renewals stall while a step runs
    job = post(board, log, "held", steps=4, hold=1)
    frozen = start(conductor(board, backend, name="frozen", ttl=0.6))
    wait_until(lambda: execs(log, "held")["s1"] == 1)
    board.frozen.clear()
    # When its claim expires and another conductor takes the job over
    time.sleep(0.8)
    rescuer = start(conductor(board, backend, name="rescuer", ttl=0.6))
    wait_until(lambda: execs(log, "held")["s1"] == 2)
    board.frozen.set()  # the frozen conductor's renewal now reaches the board: refused
    release(log)
    wait_until(lambda: board.get(job.id).state is JobState.DONE)
    frozen.stop()
    rescuer.stop()
    # Then the frozen conductor noticed and dropped the job: nothing ran after s1 twice
    assert execs(log, "held") == {"s0": 1, "s1": 2, "s2": 1, "s3": 1}
    assert frozen.conductor.statistics().lost == 1
    assert rescuer.conductor.statistics().completed == 1
    assert backend.get_flow_detail(job.flow_id).state is FlowState.SUCCESS


def test_revoking_a_running_job_reverts_its_flow_and_trashes_it(
    board: MemoryBoard, backend: Backend, log: str, start: Callable[..., Running]
) -> None:
    # Given a job running its second step on a conductor
    job = post(board, log, "tenant", steps=3, hold=1)
    running = start(conductor(board, backend, ttl=0.6))
    wait_until(lambda: execs(log, "tenant")["s1"] == 1)
    # When an operator revokes it (the conductor learns it at its next renewal)
    board.revoke(job.id, "tenant deleted")
    time.sleep(0.4)
    release(log)
    wait_until(lambda: board.get(job.id).state is JobState.TRASHED)
    running.stop()
    # Then what ran was reverted, nothing more ran, and the job is trashed with the reason
    assert "s2" not in execs(log, "tenant")
    assert reverts(log, "tenant")[-1] == "s0"
    assert board.get(job.id).reason == "tenant deleted"
    assert backend.get_flow_detail(job.flow_id).state is FlowState.REVERTED


def test_a_revoked_done_job_is_reverted_on_its_next_claim(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    # Given a finished job
    job = post(board, log, "provisioned")
    conductor(board, backend).run(idle_timeout=0.2, handle_signals=False)
    assert board.get(job.id).state is JobState.DONE
    # When it is revoked, and a conductor runs again
    board.revoke(job.id, "undo the provisioning")
    conductor(board, backend).run(idle_timeout=0.2, handle_signals=False)
    # Then its flow is reverted in reverse order and the job trashed with the reason
    assert reverts(log, "provisioned") == ["s2", "s1", "s0"]
    assert execs(log, "provisioned") == {"s0": 1, "s1": 1, "s2": 1}
    trashed = board.get(job.id)
    assert (trashed.state, trashed.reason) == (JobState.TRASHED, "undo the provisioning")


def test_a_revoked_job_whose_flow_never_started_is_trashed_without_running(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    # Given a job claimed by a conductor that died before storing its flow, then revoked
    job = post(board, log, "never")
    dead = board.claim("dead", 0.2)
    assert dead is not None
    board.revoke(job.id, "not needed")
    time.sleep(0.25)
    # When a conductor claims it
    conductor(board, backend).run(idle_timeout=0.2, handle_signals=False)
    # Then nothing ran and the job is trashed with the reason
    assert effects(log) == []
    trashed = board.get(job.id)
    assert (trashed.state, trashed.reason) == (JobState.TRASHED, "not needed")


def test_stop_suspends_running_flows_and_hands_their_jobs_back(
    board: MemoryBoard, backend: Backend, log: str, start: Callable[..., Running]
) -> None:
    # Given a job running its second step
    job = post(board, log, "handed", steps=4, hold=1)
    first = start(conductor(board, backend, name="first"))
    wait_until(lambda: execs(log, "handed")["s1"] == 1)
    # When the conductor is stopped and the running step then finishes
    threading.Timer(0.3, release, args=(log,)).start()
    took = first.stop()
    # Then the flow is stored SUSPENDED after that step and the job is claimable again
    assert took < 5
    assert backend.get_flow_detail(job.flow_id).state is FlowState.SUSPENDED
    handed = board.get(job.id)
    assert handed.state is JobState.UNCLAIMED
    assert first.conductor.statistics().handed_back == 1
    # And another conductor finishes it without running anything twice
    conductor(board, backend, name="second").run(idle_timeout=0.2, handle_signals=False)
    assert execs(log, "handed") == {"s0": 1, "s1": 1, "s2": 1, "s3": 1}
    assert board.get(job.id).state is JobState.DONE


def test_stop_gives_up_on_a_flow_stuck_past_stop_timeout(
    board: MemoryBoard, backend: Backend, log: str, start: Callable[..., Running]
) -> None:
    # Given a job whose running step never ends by itself
    job = post(board, log, "stuck", steps=3, hold=1)
    first = start(conductor(board, backend, name="first", stop_timeout=0.3))
    wait_until(lambda: execs(log, "stuck")["s1"] == 1)
    # When the conductor is stopped
    took = first.stop()
    # Then it returns within its documented bound and hands the job back
    assert took < 0.3 + 2.0 + 0.5
    assert board.get(job.id).state is JobState.UNCLAIMED
    # And when the stuck step ends after all, nothing it does is stored: the next
    # conductor runs the step again (at least once) and nothing else twice
    release(log)
    time.sleep(0.2)
    conductor(board, backend, name="second").run(idle_timeout=0.2, handle_signals=False)
    assert execs(log, "stuck") == {"s0": 1, "s1": 2, "s2": 1}
    assert board.get(job.id).state is JobState.DONE


def test_conductors_racing_over_many_jobs_complete_each_once(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    jobs = [post(board, log, f"r{i}", steps=1) for i in range(200)]
    runners = [conductor(board, backend, name=f"c{i}", max_concurrent=2) for i in range(4)]
    threads = [
        threading.Thread(target=r.run, kwargs={"idle_timeout": 0.3, "handle_signals": False})
        for r in runners
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ran = Counter(who for event, who, _ in effects(log) if event == "exec")
    assert ran == {job.name: 1 for job in jobs}
    assert {board.get(job.id).state for job in jobs} == {JobState.DONE}
    assert sum(r.statistics().completed for r in runners) == 200


def test_run_async_runs_jobs_and_cancelling_it_stops_the_conductor(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    job = post(board, log, "async")
    held = post(board, log, "held", hold=1)
    runner = conductor(board, backend, max_concurrent=2)

    async def main() -> None:
        task = asyncio.create_task(runner.run_async())
        await asyncio.to_thread(
            wait_until,
            lambda: board.get(job.id).state is JobState.DONE and execs(log, "held")["s1"] == 1,
        )
        task.cancel()
        threading.Timer(0.2, release, args=(log,)).start()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert board.get(held.id).state is JobState.UNCLAIMED
    assert runner.statistics().handed_back == 1
    assert not runner.stopping or runner.statistics().running == 0


def test_posting_one_key_twice_makes_one_job_that_runs_once(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    first = post_keyed = board.post("k", factory=FACTORY, args=[log, "k"], key="tenant-7:boot")
    again = board.post("k", factory=FACTORY, args=[log, "k"], key="tenant-7:boot")
    assert again.id == post_keyed.id
    conductor(board, backend).run(idle_timeout=0.2, handle_signals=False)
    assert execs(log, "k") == {"s0": 1, "s1": 1, "s2": 1}
    assert board.get(first.id).state is JobState.DONE


def test_a_job_naming_a_stored_flow_resumes_it_from_its_saved_factory(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    # Given a flow stored with its factory by a plain runner (which took its lease once)
    with sf.load(
        chain(log, "stored"),
        backend=backend,
        flow_id="stored-flow",
        factory=FACTORY,
        factory_args=[log, "stored"],
    ) as engine:
        engine.prepare()
    # When a job names that flow alone
    job = board.post("resume", flow_id="stored-flow")
    conductor(board, backend).run(idle_timeout=0.2, handle_signals=False)
    # Then a conductor rebuilds it and runs it once. Its first claim's epoch was not
    # past the lease epoch the runner used, so that claim was handed back untouched.
    assert execs(log, "stored") == {"s0": 1, "s1": 1, "s2": 1}
    done = board.get(job.id)
    assert (done.state, done.claims) == (JobState.DONE, 2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"max_claims": 0}, "max_claims"),
        ({"ttl": 0}, "ttl"),
        ({"ttl": float("nan")}, "ttl"),
        ({"abandon_delay": -1}, "abandon_delay"),
        ({"engine": "asyncio"}, "serial"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_settings_are_refused_with_their_name(
    board: MemoryBoard, backend: Backend, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Conductor(board, backend, **options)


def test_a_board_that_is_not_one_is_refused(backend: Backend) -> None:
    with pytest.raises(TypeError, match="JobBoard"):
        Conductor("memory://", backend)  # type: ignore[arg-type]


def test_a_running_conductor_cannot_run_twice(
    board: MemoryBoard, backend: Backend, start: Callable[..., Running]
) -> None:
    runner = conductor(board, backend)
    start(runner)
    wait_until(lambda: runner._running)
    with pytest.raises(RuntimeError, match="already running"):
        runner.run(handle_signals=False)


def test_outcomes_are_named() -> None:
    assert {o.value for o in Outcome} >= {"completed", "trashed", "abandoned", "lost"}
    assert issubclass(ClaimLostError, sf.SteadyflowError)


def test_a_revoke_learned_after_the_flow_ended_hands_the_job_back_for_a_revert(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    # Given a job whose revoke arrives just after its flow ended, before the claim is settled
    job = post(board, log, "late")
    claim = board.claim("c", 5)
    assert claim is not None

    class LateRevoke(JobRun):
        def _work(self) -> Verdict:
            verdict = super()._work()
            board.revoke(job.id, "too late?")
            self._revoke_requested("too late?")  # what a renewal in this instant reports
            return verdict

    settings = Settings(backend, "serial", max_claims=5, abandon_delay=0.0)
    late = LateRevoke(claim, settings, lambda operation: operation(), claimed_at=time.monotonic())
    # When the run settles, then a conductor claims the job again
    assert late.run() is Outcome.HANDED_BACK
    conductor(board, backend).run(idle_timeout=0.2, handle_signals=False)
    # Then the finished flow was reverted after all, and the job trashed with the reason
    assert reverts(log, "late") == ["s2", "s1", "s0"]
    trashed = board.get(job.id)
    assert (trashed.state, trashed.reason) == (JobState.TRASHED, "too late?")


def test_a_revoke_stored_after_the_last_renewal_is_not_lost_at_completion(
    board: MemoryBoard, backend: Backend, log: str
) -> None:
    # Given a job revoked on the board after its flow ended, which its conductor never
    # hears of (no renewal comes between the revoke and the completion)
    job = post(board, log, "unheard")
    claim = board.claim("c", 5)
    assert claim is not None

    class UnheardRevoke(JobRun):
        def _work(self) -> Verdict:
            verdict = super()._work()
            board.revoke(job.id, "undo it")
            return verdict

    settings = Settings(backend, "serial", max_claims=5, abandon_delay=0.0)
    run = UnheardRevoke(claim, settings, lambda operation: operation(), claimed_at=time.monotonic())
    # When the run completes the job
    assert run.run() is Outcome.HANDED_BACK
    # Then the board kept it claimable with the revoke, and the conductor says why
    assert run.reason == "revoked after its flow ended: undo it"
    stored = board.get(job.id)
    assert (stored.state, stored.revoke_reason) == (JobState.UNCLAIMED, "undo it")
    # And the next conductor reverts the finished flow and trashes the job
    conductor(board, backend).run(idle_timeout=0.2, handle_signals=False)
    assert reverts(log, "unheard") == ["s2", "s1", "s0"]
    trashed = board.get(job.id)
    assert (trashed.state, trashed.reason) == (JobState.TRASHED, "undo it")


class BlinkingBoard(MemoryBoard):
    """A memory board whose service is unavailable for the first few reports of an outcome."""

    def __init__(self, name: str, blinks: int) -> None:
        super().__init__(name)
        self.blinks = blinks

    def _finish(self, claim: Claim, state: JobState, reason: str | None) -> str | None:
        if self.blinks > 0:
            self.blinks -= 1
            raise BackendUnavailableError("the board's service blinked")
        return super()._finish(claim, state, reason)


def test_a_board_that_blinks_when_told_the_outcome_is_told_again(
    backend: Backend, log: str
) -> None:
    # Given a board whose service fails the first three reports of an outcome
    board = BlinkingBoard("blinking", blinks=3)
    job = post(board, log, "j")
    # When a conductor runs the job
    runner = conductor(board, backend)
    runner.run(idle_timeout=0.3, handle_signals=False)
    # Then the flow ran once and the job ended DONE, not left claimed until its claim ran out
    assert execs(log, "j") == {"s0": 1, "s1": 1, "s2": 1}
    assert board.get(job.id).state is JobState.DONE
    assert board.blinks == 0
    assert runner.statistics().completed == 1

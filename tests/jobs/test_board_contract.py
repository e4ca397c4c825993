"""The job board contract, run on every board kind (tests/jobs/_boards.py).

What every board promises (steadyflow.jobs.base.JobBoard): posts with a key
are idempotent, claims go by priority then age, one owner at a time even under
races, claims expire on the service's clock and are taken over with a larger
epoch, a taken-over claim can change nothing, and waiting claimers are woken
by posts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from steadyflow.errors import ConflictError
from steadyflow.jobs import (
    Claim,
    ClaimLostError,
    Job,
    JobNotFoundError,
    JobRunningError,
    JobState,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from steadyflow.jobs import JobBoard

    from ._boards import BoardKind, BoardSite

FACTORY = "farm.flows:noop"  # never imported: boards only store it
TTL = 30.0
#: Short claims for the expiry tests: long enough to act within, short enough to wait out.
SHORT_TTL = 0.4


def post(board: JobBoard, name: str = "job", **kwargs: object) -> Job:
    return board.post(name, factory=FACTORY, **kwargs)  # type: ignore[arg-type]


def must_claim(board: JobBoard, owner: str, ttl: float = TTL) -> Claim:
    claim = board.claim(owner, ttl)
    assert claim is not None, f"{owner} found nothing to claim"
    return claim


def wait_out(claim: Claim) -> None:
    """Sleep until ``claim`` has expired on any reasonable clock."""
    time.sleep(claim.ttl + 0.25)


# -- posting ------------------------------------------------------------------------------


def test_post_stores_the_job_as_given(board: JobBoard) -> None:
    # Given a job with arguments, a store and a priority
    job = board.post(
        "boot-vm",
        factory="vms.flows:boot",
        args=[1, "two"],
        kwargs={"size": {"cpu": 2}},
        store={"image": "debian", "tags": ["a", None]},
        priority=5,
    )
    # Then reading it back gives the same job, unclaimed
    stored = board.get(job.id)
    assert stored.name == "boot-vm"
    assert stored.factory == "vms.flows:boot"
    assert stored.args == [1, "two"]
    assert stored.kwargs == {"size": {"cpu": 2}}
    assert dict(stored.store) == {"image": "debian", "tags": ["a", None]}
    assert stored.priority == 5
    assert stored.flow_id == job.flow_id
    assert stored.state is JobState.UNCLAIMED
    assert (stored.claims, stored.epoch, stored.owner, stored.expires_at) == (0, 0, None, None)
    assert abs(stored.created_at - time.time()) < 60


def test_post_resuming_a_stored_flow_keeps_its_flow_id(board: JobBoard) -> None:
    job = board.post("resume", flow_id="flow-1234")
    assert board.get(job.id).flow_id == "flow-1234"
    assert board.get(job.id).factory is None


def test_posting_twice_with_a_key_makes_one_job(board: JobBoard) -> None:
    first = post(board, key="vm-42")
    second = post(board, "other name", key="vm-42")
    assert second.id == first.id
    assert second.name == "job"
    assert [job.id for job in board.iter_jobs()] == [first.id]


def test_a_key_stays_taken_after_the_job_is_done(board: JobBoard) -> None:
    first = post(board, key="once")
    must_claim(board, "a").complete()
    assert post(board, key="once").id == first.id
    assert len(list(board.iter_jobs())) == 1


def test_racing_posts_with_one_key_make_one_job(
    board: JobBoard, open_same_board: Callable[[], JobBoard]
) -> None:
    # Given eight posters, each on its own connection, starting together
    boards = [open_same_board() for _ in range(8)]
    start = threading.Barrier(len(boards))
    ids: list[str] = []

    def poster(mine: JobBoard) -> None:
        start.wait()
        ids.append(post(mine, key="racy").id)

    threads = [threading.Thread(target=poster, args=(mine,)) for mine in boards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then they all got the same job, and only one is on the board
    assert len(ids) == 8
    assert len(set(ids)) == 1
    assert [job.id for job in board.iter_jobs()] == ids[:1]


def test_get_of_an_unknown_job_raises(board: JobBoard) -> None:
    with pytest.raises(JobNotFoundError):
        board.get("no-such-job")


# -- claiming -----------------------------------------------------------------------------


def test_claims_go_by_priority_then_age(board: JobBoard) -> None:
    low = post(board, "low", priority=-1)
    old = post(board, "old")
    high = post(board, "high", priority=10)
    young = post(board, "young")
    order = [must_claim(board, f"owner-{i}").job.id for i in range(4)]
    assert order == [high.id, old.id, young.id, low.id]
    assert board.claim("owner-5", TTL) is None


def test_a_claim_carries_the_job_owner_and_epoch(board: JobBoard) -> None:
    job = post(board)
    claim = must_claim(board, "conductor-a", ttl=TTL)
    assert claim.job.id == job.id
    assert claim.owner == "conductor-a"
    assert claim.epoch >= 1
    assert claim.expires_at > time.time() + TTL / 2
    stored = board.get(job.id)
    assert stored.state is JobState.CLAIMED
    assert stored.owner == "conductor-a"
    assert stored.epoch == claim.epoch
    assert stored.claims == 1
    assert stored.expires_at is not None
    assert abs(stored.expires_at - claim.expires_at) < 1.0


def test_iter_jobs_lists_jobs_in_claim_order(board: JobBoard) -> None:
    first = post(board, "first")
    urgent = post(board, "urgent", priority=3)
    assert [job.id for job in board.iter_jobs()] == [urgent.id, first.id]


def test_iter_jobs_filters_by_state(board: JobBoard) -> None:
    done, trashed, claimed, waiting = (post(board, n) for n in ("d", "t", "c", "w"))
    must_claim(board, "a").complete()
    must_claim(board, "a").trash("broken")
    must_claim(board, "a")
    by_state = {state: [job.id for job in board.iter_jobs(state)] for state in JobState}
    assert by_state == {
        JobState.DONE: [done.id],
        JobState.TRASHED: [trashed.id],
        JobState.CLAIMED: [claimed.id],
        JobState.UNCLAIMED: [waiting.id],
    }
    assert [job.id for job in board.iter_jobs("DONE")] == [done.id]
    with pytest.raises(ValueError, match="NOPE"):
        board.iter_jobs("NOPE")


def test_a_claimed_job_is_not_claimed_again_while_its_claim_runs(board: JobBoard) -> None:
    post(board)
    must_claim(board, "a")
    assert board.claim("b", TTL) is None
    assert board.claim("a", TTL) is None


@pytest.mark.parametrize("fused", [False, True], ids=["complete-then-claim", "complete-and-claim"])
def test_one_owner_per_job_under_racing_claimers(
    board: JobBoard, open_same_board: Callable[[], JobBoard], fused: bool
) -> None:
    # Given 200 jobs and eight claimers, each on its own connection, each completing
    # a job and then claiming the next, or doing both in one step
    jobs = {post(board, f"job-{i}").id for i in range(200)}
    boards = [open_same_board() for _ in range(8)]
    start = threading.Barrier(len(boards))
    taken: Counter[str] = Counter()
    errors: list[BaseException] = []

    def claimer(mine: JobBoard, owner: str) -> None:
        start.wait()
        try:
            claim = mine.claim(owner, TTL)
            while claim is not None:
                taken[claim.job.id] += 1
                if fused:
                    claim = claim.complete_and_claim()
                else:
                    claim.complete()
                    claim = mine.claim(owner, TTL)
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [
        threading.Thread(target=claimer, args=(mine, f"owner-{i}")) for i, mine in enumerate(boards)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every job was claimed exactly once, and all are done
    assert errors == []
    assert set(taken) == jobs
    assert set(taken.values()) == {1}
    assert {job.id for job in board.iter_jobs(JobState.DONE)} == jobs


def test_a_job_posted_on_one_connection_is_claimed_on_another(
    board: JobBoard, open_same_board: Callable[[], JobBoard]
) -> None:
    other = open_same_board()
    job = post(board)
    claim = must_claim(other, "elsewhere")
    assert claim.job.id == job.id
    claim.complete()
    assert board.get(job.id).state is JobState.DONE


def test_another_process_claims_what_this_one_posted(
    board: JobBoard, board_kind: BoardKind, board_site: BoardSite
) -> None:
    if not board_kind.cross_process:
        pytest.skip("an in-process board")
    job = post(board)
    child = (
        "import sys\n"
        "from steadyflow.jobs import open_board\n"
        "with open_board(sys.argv[1], name=sys.argv[2]) as board:\n"
        "    claim = board.claim('child', 30)\n"
        "    claim.complete()\n"
        "    print(claim.job.id, claim.epoch)\n"
    )
    assert board_site.url is not None
    done = subprocess.run(
        [sys.executable, "-c", child, board_site.url, board_site.name],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # The epoch is the board's fencing token: 1 on counting boards, a zxid or revision on others.
    claimed_id, epoch = done.stdout.split()
    assert claimed_id == job.id
    assert int(epoch) == board.get(job.id).epoch >= 1
    assert board.get(job.id).state is JobState.DONE


# -- expiry, takeover and fencing ------------------------------------------------------------


def test_an_expired_claim_is_taken_over_with_a_larger_epoch(board: JobBoard) -> None:
    job = post(board)
    first = must_claim(board, "a", ttl=SHORT_TTL)
    assert board.claim("b", TTL) is None
    wait_out(first)
    second = must_claim(board, "b")
    assert second.job.id == job.id
    assert second.epoch > first.epoch
    stored = board.get(job.id)
    assert (stored.owner, stored.epoch, stored.claims) == ("b", second.epoch, 2)


@pytest.mark.parametrize(
    "action",
    [
        lambda claim: claim.renew(),
        lambda claim: claim.complete(),
        lambda claim: claim.abandon(),
        lambda claim: claim.abandon(delay=5),
        lambda claim: claim.trash("late"),
    ],
    ids=["renew", "complete", "abandon", "abandon-delay", "trash"],
)
def test_a_taken_over_claim_is_refused_and_changes_nothing(
    board: JobBoard, action: Callable[[Claim], None]
) -> None:
    # Given a claim that expired and was taken over
    job = post(board)
    zombie = must_claim(board, "zombie", ttl=SHORT_TTL)
    wait_out(zombie)
    current = must_claim(board, "heir")
    before = board.get(job.id)
    # When the zombie acts on its claim
    with pytest.raises(ClaimLostError) as raised:
        action(zombie)
    # Then it is refused, and the job is as the new owner left it
    assert raised.value.job_id == job.id
    assert raised.value.epoch == zombie.epoch
    assert board.get(job.id) == before
    current.complete()
    assert board.get(job.id).state is JobState.DONE


def test_an_expired_claim_not_yet_taken_over_is_still_lost_to_its_owner(board: JobBoard) -> None:
    post(board)
    lapsed = must_claim(board, "a", ttl=SHORT_TTL)
    wait_out(lapsed)
    # An owner never re-claims what it let lapse: it might still be running it.
    assert board.claim("a", TTL) is None
    taken = must_claim(board, "b")
    assert taken.epoch > lapsed.epoch
    with pytest.raises(ClaimLostError):
        lapsed.renew()


def test_renewing_keeps_the_claim_past_its_first_expiry(board: JobBoard) -> None:
    job = post(board)
    claim = must_claim(board, "a", ttl=SHORT_TTL * 2)
    first_expiry = claim.expires_at
    time.sleep(SHORT_TTL)
    claim.renew()
    assert claim.expires_at > first_expiry
    time.sleep(SHORT_TTL + 0.2)
    # Past the first expiry, yet nobody else can claim it
    assert board.claim("b", TTL) is None
    assert board.get(job.id).owner == "a"
    claim.complete()


def test_every_claim_of_a_job_has_a_larger_epoch(board: JobBoard) -> None:
    job = post(board)
    epochs = []
    for round_ in range(5):
        claim = must_claim(board, f"owner-{round_}")
        epochs.append(claim.epoch)
        claim.abandon()
    assert epochs == sorted(set(epochs))
    assert board.get(job.id).claims == 5


# -- finishing ------------------------------------------------------------------------------


def test_complete_makes_the_job_done_and_unclaimable(board: JobBoard) -> None:
    job = post(board)
    claim = must_claim(board, "a")
    claim.complete()
    stored = board.get(job.id)
    assert stored.state is JobState.DONE
    assert (stored.owner, stored.expires_at) == (None, None)
    assert board.claim("b", TTL) is None
    assert claim.spent
    with pytest.raises(ClaimLostError):
        claim.complete()


def test_complete_and_claim_completes_then_claims_the_next_job(board: JobBoard) -> None:
    # Given two jobs, the first one claimed
    first, second = post(board, "first"), post(board, "second", priority=-1)
    claim = must_claim(board, "a")
    assert claim.job.id == first.id
    # When its owner completes it and asks for the next in the same step
    following = claim.complete_and_claim()
    # Then the first is done, and the second is claimed by the same owner, for the same ttl
    assert claim.spent
    assert claim.revoke_reason is None
    assert board.get(first.id).state is JobState.DONE
    assert following is not None
    assert following.job.id == second.id
    assert (following.owner, following.ttl) == ("a", claim.ttl)
    stored = board.get(second.id)
    assert (stored.state, stored.owner, stored.epoch) == (JobState.CLAIMED, "a", following.epoch)
    assert following.expires_at == pytest.approx(stored.expires_at)
    # And the new claim is a claim like any other
    following.renew()
    assert following.complete_and_claim() is None
    assert board.get(second.id).state is JobState.DONE


def test_complete_and_claim_on_an_empty_board_only_completes(board: JobBoard) -> None:
    job = post(board)
    claim = must_claim(board, "a")
    assert claim.complete_and_claim() is None
    assert board.get(job.id).state is JobState.DONE
    with pytest.raises(ClaimLostError):
        claim.complete_and_claim()


def test_complete_and_claim_of_a_taken_over_claim_changes_nothing(
    board: JobBoard, open_same_board: Callable[[], JobBoard]
) -> None:
    # Given a claim that expired and was taken over, and another job waiting
    job = post(board, "taken")
    claim = must_claim(board, "a", SHORT_TTL)
    wait_out(claim)
    newer = must_claim(open_same_board(), "b")
    waiting = post(board, "waiting")
    # When the old owner completes it and asks for the next
    with pytest.raises(ClaimLostError):
        claim.complete_and_claim()
    # Then the job is still the new owner's, and the waiting job was not claimed
    stored = board.get(job.id)
    assert (stored.state, stored.owner, stored.epoch) == (JobState.CLAIMED, "b", newer.epoch)
    assert board.get(waiting.id).state is JobState.UNCLAIMED


def test_complete_and_claim_keeps_a_revoke_request(
    board: JobBoard, open_same_board: Callable[[], JobBoard]
) -> None:
    # Given a claimed job revoked after its owner's last renewal, and no other job
    job = post(board)
    claim = must_claim(board, "a")
    open_same_board().revoke(job.id, "undo it")
    # When its owner completes it and asks for the next
    following = claim.complete_and_claim()
    # Then the owner is told, and the revoke is kept: the job was left claimable with the
    # request, so the same step may have claimed it again (to revert it), or not
    assert claim.revoke_reason == "undo it"
    again = must_claim(open_same_board(), "b") if following is None else following
    assert again.job.id == job.id
    assert again.revoke_reason == "undo it"
    assert again.epoch > claim.epoch
    stored = board.get(job.id)
    assert (stored.state, stored.owner, stored.epoch) == (
        JobState.CLAIMED,
        again.owner,
        again.epoch,
    )
    assert stored.revoke_reason == "undo it"


def test_trash_keeps_the_reason(board: JobBoard) -> None:
    job = post(board)
    must_claim(board, "a").trash("poison: failed 5 times")
    stored = board.get(job.id)
    assert stored.state is JobState.TRASHED
    assert stored.reason == "poison: failed 5 times"
    assert board.claim("b", TTL) is None


def test_abandon_hands_the_job_back_at_once(board: JobBoard) -> None:
    job = post(board)
    must_claim(board, "a").abandon()
    assert board.get(job.id).state is JobState.UNCLAIMED
    again = must_claim(board, "a")
    assert again.job.id == job.id
    assert again.job.claims == 2


def test_abandon_with_a_delay_holds_the_job_back(board: JobBoard, board_kind: BoardKind) -> None:
    job = post(board)
    first = must_claim(board, "a")
    first.abandon(delay=0.6)
    assert board.get(job.id).state is JobState.UNCLAIMED
    assert board.claim("b", TTL) is None
    time.sleep(0.85 + board_kind.clock_grain)
    second = must_claim(board, "b")
    assert second.job.id == job.id
    assert second.epoch > first.epoch


# -- revoking -------------------------------------------------------------------------------


def test_revoking_an_unclaimed_job_trashes_it(board: JobBoard) -> None:
    job = post(board)
    revoked = board.revoke(job.id, "not wanted")
    assert revoked.state is JobState.TRASHED
    assert board.get(job.id).state is JobState.TRASHED
    assert board.get(job.id).revoke_reason == "not wanted"
    assert board.claim("a", TTL) is None


def test_revoking_a_claimed_job_tells_its_owner_at_renewal(board: JobBoard) -> None:
    job = post(board)
    claim = must_claim(board, "a")
    revoked = board.revoke(job.id, "cancelled by operator")
    assert revoked.state is JobState.CLAIMED
    assert board.get(job.id).owner == "a"
    claim.renew()
    assert claim.revoke_reason == "cancelled by operator"
    claim.trash("cancelled by operator")
    assert board.get(job.id).state is JobState.TRASHED


def test_revoking_a_done_job_makes_it_claimable_to_revert(board: JobBoard) -> None:
    job = post(board)
    must_claim(board, "a").complete()
    board.revoke(job.id, "undo it")
    stored = board.get(job.id)
    assert stored.state is JobState.UNCLAIMED
    assert stored.revoke_reason == "undo it"
    claim = must_claim(board, "b")
    assert claim.job.id == job.id
    assert claim.revoke_reason == "undo it"


def test_revoking_a_trashed_job_leaves_it(board: JobBoard) -> None:
    job = post(board)
    must_claim(board, "a").trash("gave up")
    stored = board.revoke(job.id, "too late")
    assert stored.state is JobState.TRASHED
    assert board.get(job.id).reason == "gave up"


def test_revoking_an_unknown_job_raises(board: JobBoard) -> None:
    with pytest.raises(JobNotFoundError):
        board.revoke("no-such-job", "why")


def test_a_revoke_between_the_last_renewal_and_complete_is_not_lost(
    board: JobBoard, open_same_board: Callable[[], JobBoard]
) -> None:
    # Given a claimed job revoked (from another connection) after its owner's last renewal
    job = post(board)
    claim = must_claim(board, "a")
    claim.renew()
    operator = open_same_board()
    assert operator.revoke(job.id, "undo it").state is JobState.CLAIMED
    # When its owner completes it, not having heard of the revoke
    claim.complete()
    # Then the job is not DONE: it is claimable, carrying the revoke, and the owner is told
    assert claim.spent
    assert claim.revoke_reason == "undo it"
    stored = board.get(job.id)
    assert stored.state is JobState.UNCLAIMED
    assert stored.revoke_reason == "undo it"
    assert (stored.owner, stored.expires_at) == (None, None)
    # And the next claim (another conductor's) sees the revoke, with a larger epoch
    again = open_same_board().claim("b", TTL)
    assert again is not None
    assert again.job.id == job.id
    assert again.revoke_reason == "undo it"
    assert again.epoch > claim.epoch
    again.trash("undo it")
    assert board.get(job.id).state is JobState.TRASHED


def test_a_revoke_racing_a_complete_always_leaves_the_job_to_revert(
    board: JobBoard, open_same_board: Callable[[], JobBoard]
) -> None:
    # Whichever lands first, a revoke and a complete racing each other leave the job
    # claimable with the request: DONE then revoked is requeued by the revoke, revoked
    # then completed by the complete. DONE with a stored request would be a lost revoke.
    operator = open_same_board()
    jobs = [post(board, f"race-{i}") for i in range(10)]
    claims = [must_claim(board, "a") for _ in jobs]
    start = threading.Barrier(2)

    def revoke_all() -> None:
        start.wait()
        for job in jobs:
            operator.revoke(job.id, "undo it")

    revoker = threading.Thread(target=revoke_all)
    revoker.start()
    start.wait()
    for claim in claims:
        claim.complete()
    revoker.join()
    for job in jobs:
        stored = board.get(job.id)
        assert (stored.state, stored.revoke_reason) == (JobState.UNCLAIMED, "undo it")


def test_a_complete_without_a_revoke_leaves_the_claim_without_one(board: JobBoard) -> None:
    job = post(board)
    claim = must_claim(board, "a")
    claim.complete()
    assert claim.revoke_reason is None
    assert board.get(job.id).state is JobState.DONE


def test_trashing_a_revoked_claim_trashes_the_job(board: JobBoard) -> None:
    job = post(board)
    claim = must_claim(board, "a")
    board.revoke(job.id, "undo it")
    claim.trash("its revert failed")
    stored = board.get(job.id)
    assert (stored.state, stored.reason) == (JobState.TRASHED, "its revert failed")
    assert board.claim("b", TTL) is None


# -- an operator's trash -------------------------------------------------------------------


def test_trashing_an_unclaimed_job_moves_it_aside_at_once(board: JobBoard) -> None:
    job = post(board)
    trashed = board.trash(job.id, "posted by mistake")
    assert trashed.state is JobState.TRASHED
    assert trashed.reason == "posted by mistake"
    stored = board.get(job.id)
    assert (stored.state, stored.reason) == (JobState.TRASHED, "posted by mistake")
    assert board.claim("a", TTL) is None


def test_trashing_an_abandoned_job_moves_it_aside(board: JobBoard, board_kind: BoardKind) -> None:
    # One handed back at once and one held back by an abandon delay: both unclaimed
    first, second = post(board, "first", priority=1), post(board, "second")
    must_claim(board, "a").abandon(delay=0.3)
    must_claim(board, "a").abandon()
    assert board.trash(first.id, "stop").state is JobState.TRASHED
    assert board.trash(second.id, "stop").state is JobState.TRASHED
    time.sleep(0.5 + board_kind.clock_grain)
    assert board.claim("b", TTL) is None
    assert {job.state for job in board.iter_jobs()} == {JobState.TRASHED}


def test_trashing_a_running_job_is_refused_and_changes_nothing(
    board: JobBoard, open_same_board: Callable[[], JobBoard]
) -> None:
    job = post(board)
    claim = must_claim(board, "a")
    before = board.get(job.id)
    with pytest.raises(JobRunningError, match="revoke it instead"):
        open_same_board().trash(job.id, "stop")
    assert board.get(job.id) == before
    # Its owner goes on with its claim
    claim.renew()
    claim.complete()
    assert board.get(job.id).state is JobState.DONE


def test_trashing_a_job_whose_claim_expired_fences_its_owner(board: JobBoard) -> None:
    job = post(board)
    lapsed = must_claim(board, "a", ttl=SHORT_TTL)
    wait_out(lapsed)
    trashed = board.trash(job.id, "its conductor died")
    assert (trashed.state, trashed.owner) == (JobState.TRASHED, None)
    for action in (lapsed.renew, lapsed.complete):
        with pytest.raises(ClaimLostError):
            action()
    stored = board.get(job.id)
    assert (stored.state, stored.reason) == (JobState.TRASHED, "its conductor died")
    assert board.claim("b", TTL) is None


def test_a_trash_racing_claims_either_trashes_the_job_or_is_refused(
    board: JobBoard, open_same_board: Callable[[], JobBoard]
) -> None:
    operator = open_same_board()
    jobs = [post(board, f"race-{i}") for i in range(10)]
    refused: set[str] = set()
    start = threading.Barrier(2)

    def trash_all() -> None:
        start.wait()
        for job in jobs:
            try:
                operator.trash(job.id, "stop")
            except ConflictError:  # running (JobRunningError), or DONE already
                refused.add(job.id)

    trasher = threading.Thread(target=trash_all)
    trasher.start()
    start.wait()
    completed: set[str] = set()
    while (claim := board.claim("a", TTL)) is not None:
        with contextlib.suppress(ClaimLostError):
            claim.complete()
            completed.add(claim.job.id)
    trasher.join()
    # Each job was either trashed before anyone claimed it, or claimed, refused to the
    # trash and completed by its owner: never trashed under a live claim.
    for job in jobs:
        stored = board.get(job.id)
        if job.id in refused:
            assert stored.state is JobState.DONE
            assert job.id in completed
        else:
            assert stored.state is JobState.TRASHED
            assert job.id not in completed


def test_trashing_a_done_job_is_refused(board: JobBoard) -> None:
    job = post(board)
    must_claim(board, "a").complete()
    with pytest.raises(ConflictError, match="DONE") as raised:
        board.trash(job.id, "too late")
    assert not isinstance(raised.value, JobRunningError)
    assert board.get(job.id).state is JobState.DONE


def test_trashing_a_trashed_job_keeps_it_as_it_was(board: JobBoard) -> None:
    job = post(board)
    board.trash(job.id, "first reason")
    again = board.trash(job.id, "second reason")
    assert (again.state, again.reason) == (JobState.TRASHED, "first reason")
    assert board.get(job.id).reason == "first reason"


def test_trash_refuses_bad_input(board: JobBoard) -> None:
    job = post(board)
    with pytest.raises(JobNotFoundError):
        board.trash("no-such-job", "why")
    with pytest.raises(ValueError, match="reason"):
        board.trash(job.id, " ")
    assert board.get(job.id).state is JobState.UNCLAIMED


# -- waiting --------------------------------------------------------------------------------


def test_a_waiting_claimer_is_woken_by_a_post(
    board: JobBoard, open_same_board: Callable[[], JobBoard], board_kind: BoardKind
) -> None:
    # Given a claimer waiting on its own connection
    waiter = open_same_board()
    got: list[tuple[Claim | None, float]] = []
    thread = threading.Thread(
        target=lambda: got.append((waiter.claim("w", TTL, wait=10), time.monotonic()))
    )
    thread.start()
    time.sleep(0.5)
    # When a job is posted
    posted_at = time.monotonic()
    job = post(board)
    thread.join(timeout=15)
    # Then the waiter has it within the kind's bound
    claim, woken_at = got[0]
    assert claim is not None
    assert claim.job.id == job.id
    assert woken_at - posted_at < board_kind.wake_within


def test_wait_returns_true_on_a_post_and_false_on_timeout(
    board: JobBoard, open_same_board: Callable[[], JobBoard]
) -> None:
    waiter = open_same_board()
    began = time.monotonic()
    assert waiter.wait(timeout=0.3) is False
    assert time.monotonic() - began >= 0.25
    timer = threading.Timer(0.3, lambda: post(board))
    timer.start()
    try:
        assert waiter.wait(timeout=10) is True
    finally:
        timer.join()


def test_a_post_between_a_failed_claim_and_the_wait_is_not_missed(
    board: JobBoard, open_same_board: Callable[[], JobBoard], board_kind: BoardKind
) -> None:
    # Given a claimer that found nothing (and has waited before, where that matters)
    waiter = open_same_board()
    waiter.wait(timeout=0.05)
    assert waiter.claim("w", TTL) is None
    # When a job is posted before it starts waiting
    post(board)
    # Then its wait returns at once instead of sleeping through the post
    began = time.monotonic()
    assert waiter.wait(timeout=5) is True
    assert time.monotonic() - began < board_kind.wake_within


def test_claim_with_wait_gives_up_after_wait(board: JobBoard) -> None:
    began = time.monotonic()
    assert board.claim("a", TTL, wait=0.4) is None
    assert 0.35 <= time.monotonic() - began < 5


def test_a_waiting_claimer_gets_an_expired_job(board: JobBoard) -> None:
    job = post(board)
    must_claim(board, "a", ttl=SHORT_TTL)
    claim = board.claim("b", TTL, wait=SHORT_TTL + 5)
    assert claim is not None
    assert claim.job.id == job.id


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "factory"),
        ({"factory": "no_colon"}, "module:function"),
        ({"factory": ":f"}, "module:function"),
        ({"factory": FACTORY, "args": [object()]}, "arguments is not JSON"),
        ({"factory": FACTORY, "store": {"x": float("nan")}}, "store is not JSON"),
        ({"factory": FACTORY, "store": {"x": "y" * (1 << 20)}}, "1 MiB"),
        ({"factory": FACTORY, "priority": True}, "priority"),
        ({"factory": FACTORY, "priority": 1.5}, "priority"),
        ({"factory": FACTORY, "key": ""}, "key"),
    ],
)
def test_post_refuses_bad_input(board: JobBoard, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        board.post("job", **kwargs)  # type: ignore[arg-type]
    assert list(board.iter_jobs()) == []


def test_post_refuses_an_empty_name(board: JobBoard) -> None:
    with pytest.raises(ValueError, match="job name"):
        board.post("", factory=FACTORY)


@pytest.mark.parametrize(
    ("owner", "ttl", "wait", "match"),
    [
        ("", TTL, None, "owner"),
        ("a", 0, None, "ttl"),
        ("a", -1, None, "ttl"),
        ("a", float("nan"), None, "ttl"),
        ("a", True, None, "ttl"),
        ("a", TTL, -1, "wait"),
    ],
)
def test_claim_refuses_bad_input(
    board: JobBoard, owner: str, ttl: float, wait: float | None, match: str
) -> None:
    post(board)
    with pytest.raises(ValueError, match=match):
        board.claim(owner, ttl, wait=wait)
    assert board.get(next(board.iter_jobs()).id).state is JobState.UNCLAIMED


def test_claim_actions_refuse_bad_input(board: JobBoard) -> None:
    post(board)
    claim = must_claim(board, "a")
    with pytest.raises(ValueError, match="delay"):
        claim.abandon(delay=-1)
    with pytest.raises(ValueError, match="reason"):
        claim.trash("  ")
    with pytest.raises(ValueError, match="reason"):
        board.revoke(claim.job.id, "")
    assert board.get(claim.job.id).state is JobState.CLAIMED
    claim.complete()


def test_a_closed_board_refuses_work(open_same_board: Callable[[], JobBoard]) -> None:
    board = open_same_board()
    board.close()
    board.close()
    assert board.closed
    with pytest.raises(RuntimeError, match="closed"):
        post(board)
    with pytest.raises(RuntimeError, match="closed"):
        board.claim("a", TTL)


# -- other processes: killed and frozen claimants ---------------------------------------------

CLAIMER = str(Path(__file__).with_name("_claimer.py"))


@contextmanager
def claimer(site: BoardSite, ttl: float) -> Iterator[tuple[subprocess.Popen[str], str, int]]:
    """A process holding a claim on the board's one job: (process, job id, epoch).

    Continued, killed and reaped on the way out, whatever the test did to it.
    """
    assert site.url is not None
    with subprocess.Popen(
        [sys.executable, CLAIMER, site.url, site.name, str(ttl)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            words = process.stdout.readline().split()
            assert words[:1] == ["claimed"], words
            yield process, words[1], int(words[2])
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.kill()


def test_a_killed_claimants_job_is_taken_over_after_its_ttl(
    board: JobBoard, board_kind: BoardKind, board_site: BoardSite
) -> None:
    if not board_kind.cross_process:
        pytest.skip("an in-process board")
    job = post(board)
    with claimer(board_site, ttl=1.0) as (process, job_id, epoch):
        assert job_id == job.id
        # When the claimant is SIGKILLed holding the job
        process.kill()
        process.wait()
        killed_at = time.monotonic()
        # Then a waiting conductor gets it once the claim runs out, with a larger epoch
        claim = board.claim("heir", TTL, wait=10)
    assert claim is not None
    assert claim.job.id == job.id
    assert claim.epoch > epoch
    assert time.monotonic() - killed_at < 1.0 + 2.0
    claim.complete()
    assert board.get(job.id).state is JobState.DONE


def test_a_frozen_claimant_cannot_finish_a_job_taken_over(
    board: JobBoard, board_kind: BoardKind, board_site: BoardSite
) -> None:
    if not board_kind.cross_process:
        pytest.skip("an in-process board")
    job = post(board)
    with claimer(board_site, ttl=1.0) as (process, _, epoch):
        assert process.stdin is not None
        assert process.stdout is not None
        # Given the claimant SIGSTOPped past its ttl, and the job taken over
        os.kill(process.pid, signal.SIGSTOP)
        heir = board.claim("heir", TTL, wait=10)
        assert heir is not None
        assert heir.epoch > epoch
        before = board.get(job.id)
        # When it is continued and tries to renew, then complete
        os.kill(process.pid, signal.SIGCONT)
        process.stdin.write("renew\ncomplete\n")
        process.stdin.flush()
        answers = [process.stdout.readline().strip() for _ in range(2)]
    # Then both are refused and the job is as the heir holds it
    assert answers == ["lost", "lost"]
    assert board.get(job.id) == before
    heir.complete()
    assert board.get(job.id).state is JobState.DONE


def test_one_owner_per_job_under_racing_processes(
    board: JobBoard, board_kind: BoardKind, board_site: BoardSite
) -> None:
    if not board_kind.cross_process:
        pytest.skip("an in-process board")
    assert board_site.url is not None
    # Given 200 jobs and four claimers, each in its own process, started together
    jobs = {post(board, f"job-{i}").id for i in range(200)}
    command = [sys.executable, CLAIMER, board_site.url, board_site.name, str(TTL), "drain"]
    processes = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = []
    try:
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [process.communicate(timeout=120)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    # Then every job was claimed and completed exactly once, across the processes
    taken = Counter(line for output in outputs for line in output.split())
    assert set(taken) == jobs
    assert set(taken.values()) == {1}
    assert {job.id for job in board.iter_jobs(JobState.DONE)} == jobs

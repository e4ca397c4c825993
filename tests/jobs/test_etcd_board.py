"""etcd board specifics: a restart of etcd under load, a SIGSTOPped claimer, ttls in
whole seconds, and URL parsing. The board contract runs in test_board_contract.py."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from steadyflow.errors import InvalidURLError
from steadyflow.jobs import ClaimLostError, open_board
from steadyflow.jobs.etcd import LEASE_SWEEP, EtcdBoard

from . import _coordination, _restart

pytestmark = pytest.mark.etcd


@pytest.fixture
def url() -> str:
    _coordination.require("etcd")
    return _coordination.etcd_url()


@pytest.fixture
def name(url: str) -> Iterator[str]:
    name = f"test-etcd-{uuid.uuid4().hex[:10]}"
    yield name
    with EtcdBoard.from_url(url, name=name) as cleaner:
        cleaner.destroy()


def test_open_board_takes_an_etcd_url(url: str, name: str) -> None:
    with open_board(url, name=name) as board:
        assert isinstance(board, EtcdBoard)
        assert board.prefix.endswith(f"/{name}/")


@pytest.mark.parametrize(
    "bad", ["etcd:///no-host", "etcd://127.0.0.1:2379/x?colour=blue", "etcd://h/x?timeout=soon"]
)
def test_bad_urls_are_refused(bad: str) -> None:
    with pytest.raises(InvalidURLError):
        EtcdBoard.from_url(bad, name="x")


def test_a_ttl_is_rounded_up_to_whole_lease_seconds(url: str, name: str) -> None:
    with EtcdBoard.from_url(url, name=name) as board:
        board.post("job", factory=_restart.FACTORY)
        claim = board.claim("a", 1.2)
        assert claim is not None
        # Granted 2 s (whole seconds, rounded up); claim.ttl adds etcd's lease sweep.
        assert claim.ttl == 2 + LEASE_SWEEP
        claim.complete()


def test_a_sigstopped_claimer_loses_its_claim_after_the_ttl(url: str, name: str) -> None:
    with EtcdBoard.from_url(url, name=name) as board:
        _restart.sigstopped_claimer_loses_its_claim(url, name, board, ttl=1.0)


@pytest.mark.slow
def test_an_etcd_restart_loses_no_job_and_completes_none_twice(url: str, name: str) -> None:
    if not _coordination.started_by_script("etcd"):
        pytest.skip("etcd was not started by .ci/services.sh: not restarting it")
    try:
        completed, posted, board = _restart.work_through_a_restart(
            lambda: EtcdBoard.from_url(url, name=name),
            lambda: _coordination.restart_service("etcd"),
        )
        _restart.assert_each_done_once(completed, posted, board)
        board.close()
    finally:
        if not _coordination.etcd_answers():
            _coordination.start_service("etcd")


def test_a_complete_tried_again_after_a_lost_answer_succeeds(url: str, name: str) -> None:
    with open_board(url, name=name) as board:
        _restart.a_retried_hand_over_is_recognised(board, "_txn")


def test_a_lease_freed_by_a_completed_claim_serves_the_next_claim_for_its_whole_ttl(
    url: str, name: str
) -> None:
    with EtcdBoard.from_url(url, name=name) as board, EtcdBoard.from_url(url, name=name) as other:
        board.post("first", factory=_restart.FACTORY)
        second = board.post("second", factory=_restart.FACTORY)
        first_claim = board.claim("a", 2)
        assert first_claim is not None
        first_lease = board._leases[(first_claim.job.id, first_claim.epoch)][0]
        first_claim.complete()
        # When the next claim comes 1.5 s into the freed lease's 2 s
        time.sleep(1.5)
        claim = board.claim("a", 2)
        assert claim is not None
        assert claim.job.id == second.id
        # Then it is on that very lease (no new grant), kept alive for a whole ttl again:
        # 3 s after the lease was granted, past its first expiry, the claim still holds
        assert board._leases[(claim.job.id, claim.epoch)][0] == first_lease
        time.sleep(1.5)
        assert other.claim("b", 2) is None
        claim.renew()
        claim.complete()


def test_renewing_one_claim_keeps_no_other_claim_of_its_owner_alive(url: str, name: str) -> None:
    with EtcdBoard.from_url(url, name=name) as board, EtcdBoard.from_url(url, name=name) as other:
        board.post("kept", factory=_restart.FACTORY)
        board.post("left", factory=_restart.FACTORY)
        kept, left = board.claim("a", 1), board.claim("a", 1)
        assert kept is not None
        assert left is not None
        # When the owner renews one of its two claims, and not the other, past the ttl
        deadline = time.monotonic() + 1 + LEASE_SWEEP + 1.0
        while time.monotonic() < deadline:
            kept.renew()
            time.sleep(0.3)
        # Then the other one ran out: another owner takes its job
        heir = other.claim("b", 30)
        assert heir is not None
        assert heir.job.id == left.job.id
        # And the lost claim's refusal (which revokes its lease) leaves the renewed one be
        with pytest.raises(ClaimLostError):
            left.renew()
        kept.renew()
        kept.complete()
        heir.complete()

"""etcd board specifics: a restart of etcd under load, a SIGSTOPped claimer, ttls in
whole seconds, and URL parsing. The board contract runs in test_board_contract.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from steadyflow.errors import InvalidURLError
from steadyflow.jobs import open_board
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

"""ZooKeeper board specifics: a restart of ZooKeeper under load, the SUSPENDED flag,
a SIGSTOPped claimer, and URL parsing. The board contract runs in test_board_contract.py."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from steadyflow.errors import BackendUnavailableError, InvalidURLError
from steadyflow.jobs import ClaimLostError, open_board
from steadyflow.jobs.zookeeper import ZooKeeperBoard

from . import _coordination, _restart

pytestmark = pytest.mark.zookeeper


@pytest.fixture
def url() -> str:
    _coordination.require("zookeeper")
    return _coordination.zookeeper_url()


@pytest.fixture
def name(url: str) -> Iterator[str]:
    name = f"test-zk-{uuid.uuid4().hex[:10]}"
    yield name
    with ZooKeeperBoard.from_url(url, name=name) as cleaner:
        cleaner.destroy()


def test_open_board_takes_a_zookeeper_url(url: str, name: str) -> None:
    with open_board(url + "?session_timeout=5", name=name) as board:
        assert isinstance(board, ZooKeeperBoard)
        assert board.root.endswith("/" + name)
        assert not board.suspended


@pytest.mark.parametrize(
    "bad",
    [
        "zookeeper:///no-host",
        "zookeeper://127.0.0.1:2181/x?colour=blue",
        "zookeeper://127.0.0.1:2181/x?session_timeout=soon",
    ],
)
def test_bad_urls_are_refused(bad: str) -> None:
    with pytest.raises(InvalidURLError):
        ZooKeeperBoard.from_url(bad, name="x")


def test_a_sigstopped_claimer_loses_its_claim_after_the_ttl(url: str, name: str) -> None:
    with ZooKeeperBoard.from_url(url, name=name) as board:
        _restart.sigstopped_claimer_loses_its_claim(url, name, board, ttl=1.0)


@pytest.mark.slow
def test_a_zookeeper_restart_loses_no_job_and_completes_none_twice(url: str, name: str) -> None:
    if not _coordination.started_by_script("zookeeper"):
        pytest.skip("ZooKeeper was not started by .ci/services.sh: not restarting it")
    watcher = ZooKeeperBoard.from_url(url, name=name)
    seen_suspended: list[bool] = []

    def restart() -> None:
        _coordination.stop_service("zookeeper")
        deadline = time.monotonic() + 10
        while not watcher.suspended and time.monotonic() < deadline:
            time.sleep(0.05)
        seen_suspended.append(watcher.suspended)
        _coordination.start_service("zookeeper")

    try:
        completed, posted, board = _restart.work_through_a_restart(
            lambda: ZooKeeperBoard.from_url(url, name=name), restart
        )
        _restart.assert_each_done_once(completed, posted, board)
        board.close()
        # The board told its conductor to start nothing while the connection was down
        assert seen_suspended == [True]
        deadline = time.monotonic() + 10
        while watcher.suspended and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not watcher.suspended
    finally:
        watcher.close()
        if not _coordination.zookeeper_answers():
            _coordination.start_service("zookeeper")


def test_a_lost_session_loses_its_claims_at_once(url: str, name: str) -> None:

    with (
        ZooKeeperBoard.from_url(url, name=name) as board,
        ZooKeeperBoard.from_url(url, name=name) as other,
    ):
        job = board.post("job", factory=_restart.FACTORY)
        claim = board.claim("a", 30)
        assert claim is not None
        # When the board's session ends (another client closes it, as ZooKeeper would
        # after the session timeout)
        _end_session(board)
        # Then its claim is gone long before the ttl: another owner takes the job now
        heir = other.claim("b", 30, wait=5)
        assert heir is not None
        assert heir.job.id == job.id
        assert heir.epoch > claim.epoch
        with pytest.raises(ClaimLostError):
            claim.renew()
        # And the board works on with a new session once it has one
        heir.complete()
        deadline = time.monotonic() + 10
        while True:
            try:
                board.post("next", factory=_restart.FACTORY)
                break
            except BackendUnavailableError:
                assert time.monotonic() < deadline, "no new session within 10 s"
                time.sleep(0.1)
        assert board.claim("a", 30, wait=5) is not None


def test_a_complete_tried_again_after_a_lost_answer_succeeds(url: str, name: str) -> None:
    with open_board(url, name=name) as board:
        _restart.a_retried_hand_over_is_recognised(board, "_commit")


def test_a_claim_node_vanishing_between_a_claim_and_the_wait_is_not_missed(
    url: str, name: str
) -> None:

    with (
        ZooKeeperBoard.from_url(url, name=name) as holder,
        ZooKeeperBoard.from_url(url, name=name) as waiter,
    ):
        # Given a job held by another session, seen by a claimer that found nothing
        job = holder.post("job", factory=_restart.FACTORY)
        held = holder.claim("a", 30)
        assert held is not None
        assert waiter.claim("w", 30) is None
        # When the holder's session ends (its claim node goes) before the claimer waits
        _end_session(holder)
        # Then the wait returns at once (not at the claim's expiry), and the job is there
        assert waiter.wait(timeout=20) is True
        heir = waiter.claim("w", 30)
        assert heir is not None
        assert heir.job.id == job.id
        heir.complete()


def test_posts_interleaved_from_two_boards_are_claimed_in_post_order(url: str, name: str) -> None:
    # Each board guesses the clock's version from its own last post: the other's posts
    # prove the guesses wrong, and the order must hold all the same.
    with (
        ZooKeeperBoard.from_url(url, name=name) as first,
        ZooKeeperBoard.from_url(url, name=name) as second,
    ):
        posted = [
            (first if i % 3 else second).post(f"job-{i}", factory=_restart.FACTORY).id
            for i in range(12)
        ]
        claimed = []
        for _ in posted:
            claim = first.claim("c", 30)
            assert claim is not None
            claimed.append(claim.job.id)
        assert claimed == posted


def test_complete_and_claim_is_one_transaction_also_for_another_board_s_jobs(
    url: str, name: str
) -> None:
    # Given jobs posted by another board object (so the claimer reads each job node)
    with (
        ZooKeeperBoard.from_url(url, name=name) as poster,
        ZooKeeperBoard.from_url(url, name=name) as board,
    ):
        posted = [poster.post(f"job-{i}", factory=_restart.FACTORY).id for i in range(3)]
        claim = board.claim("c", 30)
        assert claim is not None
        commits: list[object] = []
        original = board._commit

        def counted(build: Any) -> Any:
            commits.append(build)
            return original(build)

        board._commit = counted  # type: ignore[method-assign]
        # When a claim completes and claims the next job, twice, then the last completes
        following = claim.complete_and_claim()
        assert following is not None
        last = following.complete_and_claim()
        assert last is not None
        assert last.complete_and_claim() is None
        # Then each step with a next job was one transaction, in post order; all are DONE
        assert [following.job.id, last.job.id] == posted[1:]
        assert len(commits) == 3
        assert {job.state.value for job in board.iter_jobs()} == {"DONE"}
        assert following.job.claims == 1
        assert following.epoch > claim.epoch


def _end_session(board: ZooKeeperBoard) -> None:
    """End ``board``'s session from another client, as ZooKeeper does after its timeout."""
    from kazoo.client import KazooClient

    session_id, password = board._client.client_id
    killer = KazooClient(hosts=board.hosts, client_id=(session_id, password))
    killer.start(timeout=10)
    killer.stop()
    killer.close()
    deadline = time.monotonic() + 10
    while board.sessions_lost == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert board.sessions_lost == 1

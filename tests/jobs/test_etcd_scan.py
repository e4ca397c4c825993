"""etcd board: a claim reads a few open jobs, not the whole backlog, and still claims in
order (rank, then the open entry's create revision). The contract suite covers the order
on small boards; these tests make the scan's first reads too short on purpose (a sorted
page of 4 entries) so that its later reads, and its cursor going stale, are exercised."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from steadyflow.jobs import Claim, _etcd_scan
from steadyflow.jobs.etcd import EtcdBoard

from . import _coordination

pytestmark = pytest.mark.etcd

FACTORY = "tests.flows:noop"  # never run


@pytest.fixture
def boards(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EtcdBoard, EtcdBoard]]:
    """Two board objects on one fresh board: a claimer and "the others"."""
    _coordination.require("etcd")
    monkeypatch.setattr(_etcd_scan, "PAGE", 4)
    url, name = _coordination.etcd_url(), f"test-etcd-scan-{uuid.uuid4().hex[:10]}"
    with EtcdBoard.from_url(url, name=name) as board, EtcdBoard.from_url(url, name=name) as other:
        try:
            yield board, other
        finally:
            board.destroy()


def _post(board: EtcdBoard, count: int, priority: int = 0) -> list[str]:
    return [board.post(f"job-{i}", factory=FACTORY, priority=priority).id for i in range(count)]


def _claim(board: EtcdBoard, owner: str = "a") -> Claim:
    claim = board.claim(owner, 30)
    assert claim is not None
    return claim


def test_a_claim_finds_the_first_free_job_behind_more_busy_ones_than_it_reads_first(
    boards: tuple[EtcdBoard, EtcdBoard],
) -> None:
    board, other = boards
    ids = _post(board, 30)
    # Given a claimer whose last scan saw nothing busy (so it reads a few entries first)
    assert _claim(board).job.id == ids[0]
    # When others claim the next 20 jobs, and hold one of them back for a minute
    taken = [_claim(other, "b") for _ in range(20)]
    assert [claim.job.id for claim in taken] == ids[1:21]
    taken[0].abandon(delay=60)
    # Then the claimer's next claims are the oldest jobs neither claimed nor held
    assert _claim(board).job.id == ids[21]
    assert _claim(board).job.id == ids[22]
    # And so is a fresh board object's (no cursor: it starts from sorted pages)
    with EtcdBoard.from_url(_coordination.etcd_url(), name=board.name) as fresh:
        assert _claim(fresh, "c").job.id == ids[23]


def test_a_fully_busy_best_priority_yields_to_the_next_and_comes_back_first(
    boards: tuple[EtcdBoard, EtcdBoard],
) -> None:
    board, other = boards
    low = _post(board, 3, priority=0)
    high = _post(board, 6, priority=5)
    # Given every job of the best priority claimed by others
    high_claims = [_claim(other, "b") for _ in high]
    assert [claim.job.id for claim in high_claims] == high
    # Then the claimer takes the next priority's oldest job
    assert _claim(board).job.id == low[0]
    # When one of the best priority is handed back, it is the next claim (not the lower one)
    high_claims[3].abandon()
    assert _claim(board).job.id == high[3]
    # And a job posted later with a priority in between comes before the lowest ones
    middle = other.post("middle", factory=FACTORY, priority=3).id
    assert _claim(board).job.id == middle
    assert _claim(board).job.id == low[1]


def test_more_new_jobs_of_a_better_priority_than_a_claim_reads_first_start_with_the_oldest(
    boards: tuple[EtcdBoard, EtcdBoard],
) -> None:
    board, other = boards
    low = _post(board, 2)
    assert _claim(board).job.id == low[0]
    # When others post many more jobs of a better priority than the claimer reads of
    # better ranks at first (their keys sort by id, not by age)
    high = _post(other, 30, priority=5)
    # Then the claimer takes them oldest first, before the lower one
    assert [_claim(board).job.id for _ in range(3)] == high[:3]


def test_claims_keep_the_order_while_others_complete_post_and_revoke(
    boards: tuple[EtcdBoard, EtcdBoard],
) -> None:
    board, other = boards
    ids = _post(board, 6)
    first = _claim(board)
    assert first.job.id == ids[0]
    first.complete()
    # When another board object completes one job, posts one, and revokes the completed
    # first one (its open entry is made anew: it is now the youngest)
    done = _claim(other, "b")
    assert done.job.id == ids[1]
    done.complete()
    late = other.post("late", factory=FACTORY).id
    other.revoke(ids[0], "again")
    # Then the claimer still takes them oldest first; an abandoned job keeps its place
    second = _claim(board)
    assert second.job.id == ids[2]
    second.abandon()
    order = [_claim(board).job.id for _ in range(6)]
    assert order == [ids[2], ids[3], ids[4], ids[5], late, ids[0]]
    assert board.claim("a", 30) is None


def test_a_claim_reads_a_few_open_jobs_not_the_whole_backlog(
    boards: tuple[EtcdBoard, EtcdBoard],
) -> None:
    board, other = boards
    _post(other, 60)
    values: list[int] = []
    plain = board._call

    def counting(path: str, payload: dict[str, Any], client: Any = None) -> dict[str, Any]:
        reply = plain(path, payload, client)
        if path in ("/kv/txn", "/kv/range"):
            found = [reply] + [
                response.get("response_range", {}) for response in reply.get("responses", [])
            ]
            values[-1] += sum(
                1
                for response in found
                for kv in response.get("kvs", [])
                if "value" in kv and json.loads(_etcd_scan.unb64(kv["value"])).get("id")
            )
        return reply

    board._call = counting  # type: ignore[method-assign]
    claims = []
    for _ in range(12):
        values.append(0)
        claim = board.claim("a", 30)
        assert claim is not None
        claims.append(claim)
        if len(claims) % 3:  # some completed, some kept (busy) while the next are claimed
            claim.complete()
    # A claim reads the records of its cursor's first entries by key (as many as the
    # last claim found busy or gone, and 4 more) and, when those are all it knows, the
    # next sorted page (4 entries here): a few, never the 60 open jobs
    assert max(values) <= 12, values
    assert sum(values) <= 8 * len(values), values

"""What the Redis board promises beyond the contract suite (which it passes too).

Its clock is the server's, its keys stay under its board name, its scripts
ship in the package, and it survives its server: a connection error is a
BackendUnavailableError, the next call reconnects, and a server that keeps
its data (append-only file) restarted in the middle of work loses no job and
completes none twice. The restart tests run a redis-server of their own
(tests/jobs/_private_redis.py), never touching the shared one.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from importlib import resources
from typing import TYPE_CHECKING, TypeVar

import pytest

from steadyflow.errors import BackendUnavailableError, InvalidURLError
from steadyflow.jobs import Claim, ClaimLostError, JobState, open_board

from . import _redis_service
from ._boards import unique_name
from ._private_redis import PrivateRedis, private_redis

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from steadyflow.jobs.redis import RedisBoard

pytestmark = pytest.mark.redis

T = TypeVar("T")

FACTORY = "farm.flows:noop"
TTL = 30.0


@pytest.fixture
def board() -> Iterator[RedisBoard]:
    from steadyflow.jobs.redis import RedisBoard

    _redis_service.require()
    board = RedisBoard.from_url(_redis_service.redis_url(), name=unique_name("redis"))
    try:
        yield board
    finally:
        board.drop()
        board.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    _redis_service.require()  # redis-py, and a reason to expect redis-server on this machine
    with private_redis(tmp_path) as started:
        yield started


def retrying(call: Callable[[], T], *, within: float = 15.0) -> T:
    """``call()``, again while the server is unavailable (a restart under way)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return call()
        except BackendUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- opening ----------------------------------------------------------------------------------


def test_open_board_picks_the_redis_board_from_the_url() -> None:
    from steadyflow.jobs.redis import RedisBoard

    with open_board("redis://127.0.0.1:6379/0", name="opened") as board:
        assert isinstance(board, RedisBoard)
        assert board.name == "opened"


def test_a_bad_redis_url_is_refused_by_name() -> None:
    with pytest.raises(InvalidURLError, match="redis"):
        open_board("redis://127.0.0.1:notaport/0", name="x")


def test_a_board_name_with_braces_is_refused() -> None:
    # Braces would break the hash tag that keeps a board's keys in one cluster slot.
    with pytest.raises(ValueError, match="braces"):
        open_board("redis://127.0.0.1:6379/0", name="a{b}")


def test_a_board_on_a_client_of_the_users_own_that_returns_bytes() -> None:
    import redis

    from steadyflow.jobs.redis import RedisBoard

    _redis_service.require()
    client = redis.Redis.from_url(_redis_service.redis_url())  # decode_responses=False
    with RedisBoard(client, name=unique_name("redis")) as board:
        try:
            job = board.post("bytes", factory=FACTORY, store={"é": 1}, key="k")
            assert board.post("again", factory=FACTORY, key="k").id == job.id
            claim = board.claim("a", TTL)
            assert claim is not None
            claim.renew()
            claim.complete()
            stored = board.get(job.id)
            assert (stored.state, dict(stored.store)) == (JobState.DONE, {"é": 1})
            assert [found.id for found in board.iter_jobs(JobState.DONE)] == [job.id]
        finally:
            board.drop()


def test_a_bytes_client_s_board_completes_claims_trashes_and_revokes_in_one_go() -> None:
    import redis

    from steadyflow.jobs.redis import RedisBoard

    _redis_service.require()
    client = redis.Redis.from_url(_redis_service.redis_url())  # decode_responses=False
    with RedisBoard(client, name=unique_name("redis")) as board:
        try:
            first = board.post("first", factory=FACTORY, store={"é": 1})
            second = board.post("second", factory=FACTORY, args=["ü"], priority=-1)
            claim = board.claim("a", TTL)
            assert claim is not None
            assert claim.job.id == first.id
            following = claim.complete_and_claim()
            assert following is not None
            assert (following.job.id, following.job.args, following.epoch) == (second.id, ["ü"], 1)
            assert following.job == board.get(second.id)
            following.trash("é gone")
            trashed = board.get(second.id)
            assert (trashed.state, trashed.reason) == (JobState.TRASHED, "é gone")
            assert board.revoke(first.id, "undo").state is JobState.UNCLAIMED
        finally:
            board.drop()


def test_a_claim_s_job_is_the_job_as_stored(board: RedisBoard) -> None:
    # The claim script replies with the row it read, the claim's changes applied
    # in place: it must be what the hash holds afterwards, field for field.
    job = board.post("job", factory=FACTORY, store={"a": 1}, key="k")
    other = board.post("other", factory=FACTORY, priority=-1)
    first = board.claim("a", TTL)
    assert first is not None
    assert first.job == board.get(job.id)
    first.abandon()
    board.revoke(job.id, "undo it")  # kept on the job for its next claimer
    second = board.claim("b", TTL)
    assert second is not None
    assert (second.job.claims, second.epoch, second.job.owner) == (2, 2, "b")
    assert second.job.revoke_reason == "undo it"
    assert second.job == board.get(job.id)
    following = second.complete_and_claim()  # requeued for its revert, and best again
    assert following is not None
    assert following.job.id == job.id
    assert (following.epoch, following.job.claims) == (3, 3)
    assert following.job == board.get(job.id)
    following.trash("reverted")
    last = board.claim("c", TTL)
    assert last is not None
    assert last.job.id == other.id
    assert last.job == board.get(other.id)


def test_scripts_are_sent_as_redis_py_would_pack_them() -> None:
    # The board packs with hiredis itself, skipping redis-py's packer: the bytes
    # must be the same as redis-py's own send_command sends.
    import redis.connection

    from steadyflow.jobs import _redis_link

    if _redis_link._HIREDIS is None:
        pytest.skip("hiredis is not installed: redis-py packs the board's commands")
    command = ("EVALSHA", "0" * 40, 2, "steadyflow:board:{é}:a", "b", "x y", "", "12345")
    connection = redis.connection.Connection()  # type: ignore[no-untyped-call]
    packed = connection.pack_command(*command)  # type: ignore[no-untyped-call]
    assert _redis_link._HIREDIS(command) == b"".join(packed)


def test_importing_the_jobs_package_does_not_import_redis() -> None:
    code = "import sys, steadyflow, steadyflow.jobs; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_lua_scripts_ship_inside_the_package() -> None:
    from steadyflow.jobs import redis as redis_board

    folder = resources.files("steadyflow.jobs").joinpath("redis_lua")
    shipped = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".lua"))
    names = [*redis_board._SCRIPTS, *redis_board._COMPOSED]
    assert shipped == sorted(f"{name}.lua" for name in names)
    # A composed script holds its parts' sources, none of its markers
    scripts = redis_board._load_scripts()
    for name, parts in redis_board._COMPOSED.items():
        assert "--@" not in scripts[name]
        for part in parts:
            assert scripts[part] in scripts[name]


# -- clock and keys ---------------------------------------------------------------------------


def test_expiries_come_from_the_servers_clock_not_the_callers(
    board: RedisBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a caller whose clock is an hour ahead of the server's
    server_now = board.earliest_deadline()[0]
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)
    # When it posts and claims
    job = board.post("job", factory=FACTORY)
    claim = board.claim("a", 10.0)
    assert claim is not None
    # Then creation and expiry are on the server's clock
    assert abs(job.created_at - server_now) < 5
    assert abs(claim.expires_at - (server_now + 10.0)) < 5
    assert abs(board.get(job.id).expires_at - claim.expires_at) < 0.001  # type: ignore[operator]


def test_every_key_of_a_board_is_under_its_name_and_drop_removes_them(board: RedisBoard) -> None:
    import redis

    for i in range(3):
        board.post(f"job-{i}", factory=FACTORY, key=f"k{i}")
    board.claim("a", TTL).complete()  # type: ignore[union-attr]
    board.claim("a", TTL).abandon(delay=60)  # type: ignore[union-attr]
    client = redis.Redis.from_url(_redis_service.redis_url())
    try:
        pattern = "steadyflow:board:{" + board.name + "}:*"
        keys = {key.decode() for key in client.scan_iter(match=pattern)}
        assert len(keys) >= 3 + 5  # three job hashes, the indexes, the key map
        assert board.drop() == len(keys)
        assert list(client.scan_iter(match=pattern)) == []
    finally:
        client.close()


def test_a_board_laid_out_by_a_newer_steadyflow_is_refused(board: RedisBoard) -> None:
    import redis

    from steadyflow.errors import SchemaVersionError
    from steadyflow.jobs.redis import RedisBoard

    board.post("job", factory=FACTORY)
    client = redis.Redis.from_url(_redis_service.redis_url())
    try:
        client.set("steadyflow:board:{" + board.name + "}:layout", "2")
    finally:
        client.close()
    with RedisBoard.from_url(_redis_service.redis_url(), name=board.name) as newer:
        with pytest.raises(SchemaVersionError, match="layout '2'"):
            newer.claim("a", TTL)
        with pytest.raises(SchemaVersionError):
            list(newer.iter_jobs())


def test_boards_with_different_names_share_nothing(board: RedisBoard) -> None:
    from steadyflow.jobs.redis import RedisBoard

    with RedisBoard.from_url(_redis_service.redis_url(), name=unique_name("redis")) as other:
        try:
            board.post("mine", factory=FACTORY, key="same-key")
            theirs = other.post("theirs", factory=FACTORY, key="same-key")
            assert other.claim("b", TTL).job.id == theirs.id  # type: ignore[union-attr]
            assert [job.name for job in board.iter_jobs()] == ["mine"]
        finally:
            other.drop()


def test_iter_jobs_reads_a_large_board_in_claim_order(board: RedisBoard) -> None:
    # More jobs than one pipelined read (500) holds, in two priorities
    posted = [board.post(f"job-{i}", factory=FACTORY, priority=i % 2).id for i in range(1100)]
    listed = [job.id for job in board.iter_jobs()]
    assert listed == posted[1::2] + posted[0::2]
    assert [job.id for job in board.iter_jobs(JobState.CLAIMED)] == []


def test_closing_a_board_stops_its_wakeup_listener() -> None:
    from steadyflow.jobs.redis import RedisBoard

    _redis_service.require()
    name = unique_name("redis")
    board = RedisBoard.from_url(_redis_service.redis_url(), name=name)
    assert board.wait(timeout=0.1) is False
    listeners = [t for t in threading.enumerate() if t.name == f"steadyflow-redis-board-{name}"]
    assert len(listeners) == 1
    board.drop()
    board.close()
    assert not listeners[0].is_alive()


# -- claim order across the indexes -----------------------------------------------------------


def test_an_expired_claim_of_higher_priority_goes_before_a_ready_job(board: RedisBoard) -> None:
    urgent = board.post("urgent", factory=FACTORY, priority=5)
    lapsed = board.claim("a", 0.3)
    assert lapsed is not None
    ready = board.post("ready", factory=FACTORY)
    time.sleep(0.45)
    assert board.claim("b", TTL).job.id == urgent.id  # type: ignore[union-attr]
    assert board.claim("b", TTL).job.id == ready.id  # type: ignore[union-attr]


def test_a_job_whose_abandon_delay_ended_keeps_its_place(board: RedisBoard) -> None:
    older = board.post("older", factory=FACTORY)
    board.claim("a", TTL).abandon(delay=0.3)  # type: ignore[union-attr]
    younger = board.post("younger", factory=FACTORY)
    time.sleep(0.45)
    assert board.claim("b", TTL).job.id == older.id  # type: ignore[union-attr]
    assert board.claim("b", TTL).job.id == younger.id  # type: ignore[union-attr]


def test_a_claimer_waiting_on_an_abandon_delay_is_woken_when_it_ends(board: RedisBoard) -> None:
    job = board.post("job", factory=FACTORY)
    board.claim("a", TTL).abandon(delay=0.5)  # type: ignore[union-attr]
    began = time.monotonic()
    claim = board.claim("b", TTL, wait=5)
    waited = time.monotonic() - began
    assert claim is not None
    assert claim.job.id == job.id
    assert 0.4 < waited < 1.0


# -- the server going away --------------------------------------------------------------------


def test_a_stopped_server_is_reported_and_the_board_reconnects(server: PrivateRedis) -> None:
    from steadyflow.jobs.redis import RedisBoard

    with RedisBoard.from_url(server.url, name=unique_name("redis")) as board:
        # Given a job claimed before the server goes down
        job = board.post("job", factory=FACTORY)
        claim = board.claim("a", TTL)
        assert claim is not None
        server.kill()
        # When the board is used while it is down, every call says so
        with pytest.raises(BackendUnavailableError, match=f"127.0.0.1:{server.port}"):
            board.post("other", factory=FACTORY)
        with pytest.raises(BackendUnavailableError):
            claim.renew()
        with pytest.raises(BackendUnavailableError):
            board.get(job.id)
        # Then, once it is back, the next calls work and nothing acknowledged was lost
        server.start()
        claim.renew()
        assert board.get(job.id).epoch == claim.epoch
        claim.complete()
        assert board.get(job.id).state is JobState.DONE


def test_a_waiting_claimer_survives_a_server_restart(server: PrivateRedis) -> None:
    from steadyflow.jobs.redis import RedisBoard

    name = unique_name("redis")
    with (
        RedisBoard.from_url(server.url, name=name) as poster,
        RedisBoard.from_url(server.url, name=name) as waiter,
    ):
        got: list[Claim | None] = []
        thread = threading.Thread(target=lambda: got.append(waiter.claim("w", TTL, wait=20)))
        thread.start()
        time.sleep(0.3)
        # When the server restarts under the waiting claimer, and a job is posted after
        server.restart()
        time.sleep(0.5)  # the listener resubscribes
        posted_at = time.monotonic()
        job = retrying(lambda: poster.post("job", factory=FACTORY))
        thread.join(timeout=25)
        # Then the waiter is woken by the post, not by its timeout
        assert got
        assert got[0] is not None
        assert got[0].job.id == job.id
        assert time.monotonic() - posted_at < 2.0


def test_epochs_keep_growing_across_a_restart(server: PrivateRedis) -> None:
    from steadyflow.jobs.redis import RedisBoard

    with RedisBoard.from_url(server.url, name=unique_name("redis")) as board:
        board.post("job", factory=FACTORY)
        first = board.claim("a", TTL)
        assert first is not None
        first.abandon()
        server.restart()
        second = retrying(lambda: board.claim("b", TTL))
        assert second is not None
        assert second.epoch > first.epoch
        with pytest.raises(ClaimLostError):
            first.renew()


@pytest.mark.slow
def test_a_server_restarted_under_busy_claimers_loses_no_job_and_completes_none_twice(
    server: PrivateRedis, tmp_path: Path
) -> None:
    from steadyflow.jobs.redis import RedisBoard

    name = unique_name("redis")
    jobs = 300
    ledger = tmp_path / "ran.log"  # each job's work appends its id: the side effect we count
    completed: Counter[str] = Counter()
    problems: list[str] = []
    outages: list[str] = []  # the claimers' view of the restarts
    stop = threading.Event()
    lock = threading.Lock()

    def finish(board: RedisBoard, claim: Claim) -> None:
        """Complete ``claim``; if the reply was lost to a restart, find out whether it ran."""
        while True:
            try:
                claim.complete()
            except BackendUnavailableError as exc:
                outages.append(str(exc))
                time.sleep(0.05)
                continue
            except ClaimLostError:
                stored = retrying(lambda: board.get(claim.job.id))
                if stored.state is not JobState.DONE or stored.epoch != claim.epoch:
                    with lock:
                        problems.append(f"{claim.job.id} lost: {stored.state} at {stored.epoch}")
                    return
            with lock:
                completed[claim.job.id] += 1
            return

    def claimer(owner: str) -> None:
        with RedisBoard.from_url(server.url, name=name) as board:
            while not stop.is_set():
                try:
                    claim = board.claim(owner, 3.0, wait=0.5)
                except BackendUnavailableError as exc:
                    outages.append(str(exc))
                    time.sleep(0.05)
                    continue
                if claim is None:
                    continue
                fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
                try:
                    os.write(fd, f"{claim.job.id}\n".encode())
                finally:
                    os.close(fd)
                finish(board, claim)

    # Given four claimers at work on a board while jobs are posted
    threads = [threading.Thread(target=claimer, args=(f"c{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    posted: set[str] = set()
    with RedisBoard.from_url(server.url, name=name) as poster:
        for i in range(jobs):
            # A post whose reply was lost is posted again under the same key: one job.
            job = retrying(
                functools.partial(poster.post, f"job-{i}", factory=FACTORY, key=f"job-{i}")
            )
            posted.add(job.id)
            # When the server is killed (SIGKILL) and restarted twice in the middle
            if i in (jobs // 3, 2 * jobs // 3):
                server.restart()
        # Then every job ends DONE (allowing a claim whose reply was lost to run out)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = retrying(lambda: {job.id for job in poster.iter_jobs(JobState.DONE)})
            if done == posted:
                break
            time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        final = {job.id: job.state for job in poster.iter_jobs()}
        poster.drop()
    ran = Counter(ledger.read_text().split())
    assert problems == []
    assert outages, "the restarts went unnoticed: the test did not test them"
    assert len(posted) == jobs
    assert set(final) == posted
    assert set(final.values()) == {JobState.DONE}
    # ... each completed exactly once, and each job's work done exactly once
    assert set(completed) == posted
    assert set(completed.values()) == {1}
    assert set(ran) == posted
    assert set(ran.values()) == {1}

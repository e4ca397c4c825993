"""A persisted run owns its flow through a lease: one runner at a time, fenced writes.

The subprocess tests run ``_holder.py`` (a chain ``a, slow, c`` whose ``slow``
takes about 2 s) and check, from its own log of what each process executed
and from the stored state, that a killed, frozen or disconnected holder never
lets two runners act on one flow, and never blocks it for longer than its
lease.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.engine import EngineKind
from steadyflow.errors import BackendUnavailableError, FlowLockedError, LeaseLostError
from steadyflow.persistence import AtomDetail, Backend, MemoryBackend
from steadyflow.persistence.base import Lease
from steadyflow.persistence.leases import process_owner
from steadyflow.states import AtomState, FlowState

from ._flows import Journal, chain
from .conftest import Opener

HOLDER = Path(__file__).with_name("_holder.py")


def test_a_second_runner_gets_flow_locked_naming_the_holder(reopen: Opener) -> None:
    # Given a run whose task tries to run the same flow with another engine
    errors: list[FlowLockedError] = []
    second = reopen()

    class Interloper(sf.Task):
        def execute(self, **_: Any) -> None:
            try:
                sf.load(chain(Journal(), ["a"]), backend=second, flow_id="held").run()
            except FlowLockedError as exc:
                errors.append(exc)

    flow = sf.Linear("chain", *chain(Journal(), ["a"]).children, Interloper("i"))
    # When it runs
    sf.load(flow, store={"start": 0}, backend=reopen(), flow_id="held").run()
    # Then the second engine was refused, told who holds the flow and until when
    assert len(errors) == 1
    assert errors[0].holder == process_owner()
    assert errors[0].expires_at is not None
    assert errors[0].expires_at > time.time() - 60
    assert errors[0].flow_id == "held"
    # And once the first is done, running again is allowed (and finds nothing to do)
    sf.load(flow, backend=reopen(), flow_id="held").run()


def test_a_runner_continues_from_what_another_runner_stored(reopen: Opener) -> None:
    # Given engine A looked at the flow, then engine B ran it to the end
    journal = Journal()
    stale = sf.load(chain(journal, ["a", "b"]), store={"start": 0}, backend=reopen(), flow_id="x")
    stale.prepare()
    assert stale.storage.get_state("a") is AtomState.PENDING
    sf.load(chain(journal, ["a", "b"]), store={"start": 0}, backend=reopen(), flow_id="x").run()
    # When A runs, Then it reads the latest state once it holds the lease: nothing runs twice
    stale.run()
    assert journal.names("execute") == ["a", "b"]
    assert stale.storage.flow_state is FlowState.SUCCESS
    assert stale.storage.fetch("b") == 2


def test_a_reset_is_written_by_the_next_run(reopen: Opener) -> None:
    journal = Journal()
    engine = sf.load(chain(journal, ["a"]), store={"start": 0}, backend=reopen(), flow_id="r")
    engine.run()
    # When the engine is reset and run again, Then the task runs again with a new attempt
    engine.reset()
    engine.run()
    assert journal.names("execute") == ["a", "a"]
    assert journal.keys("execute", "a") == ["r:a:1", "r:a:2"]


@pytest.mark.parametrize("kind", ["serial", "parallel"])
def test_a_preempted_run_stops_and_records_nothing_more(backend: Backend, kind: EngineKind) -> None:
    # Given a run whose second task is slow, and a takeover with a larger epoch meanwhile
    journal = Journal()
    started = threading.Event()
    slow_for = 1.0 if kind == "serial" else 6.0

    class Slow(sf.Task):
        def execute(self, a: int) -> int:
            started.set()
            time.sleep(slow_for)
            return a

    flow = sf.Linear(
        "pre", *chain(journal, ["a"]).children, Slow("slow", provides="s"), *_tail(journal)
    )
    engine = sf.load(
        flow, store={"start": 0}, backend=backend, flow_id="pre", lease_ttl=5, engine=kind
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            engine.run()
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    assert started.wait(10)
    current = backend.get_lease("pre")
    assert current is not None
    taker = backend.acquire_lease("pre", "taker", 30, epoch=current.epoch + 1)
    # When the run notices (the serial engine, once the task it runs inline returns;
    # the parallel one at once, abandoning the task's thread)
    began = time.monotonic()
    runner.join(slow_for + 10)
    assert not runner.is_alive()
    if kind == "parallel":
        assert time.monotonic() - began < slow_for - 2  # liveness: it did not wait for the task
    # Then it ended with LeaseLostError
    assert len(errors) == 1
    assert isinstance(errors[0], LeaseLostError)
    # And the store shows slow still RUNNING: its result was not recorded, c never started
    stored = backend.get_flow_detail("pre").atoms
    assert stored["slow"].state is AtomState.RUNNING
    assert "c" not in stored or stored["c"].state is AtomState.PENDING
    assert journal.names("execute") == ["a"]
    # And the new holder is untouched
    assert backend.get_lease("pre") == taker or backend.get_lease("pre") is not None
    backend.release_lease(taker)


class _Unreachable(MemoryBackend):
    """A memory store whose renewals never get through, as when the network is gone."""

    def renew_lease(self, lease: Lease) -> Lease:
        raise BackendUnavailableError("the store cannot be reached")


def test_a_run_that_cannot_renew_its_lease_stops_before_expiry() -> None:
    # Given a store that stops answering renewals, and a task longer than the lease
    journal = Journal()

    class Slow(sf.Task):
        def execute(self, a: int) -> int:
            time.sleep(6.0)
            return a

    flow = sf.Linear("cut", *chain(journal, ["a"]).children, Slow("slow", provides="s"))
    backend = _Unreachable()
    engine = sf.load(
        flow,
        store={"start": 0},
        backend=backend,
        flow_id="cut",
        lease_ttl=0.6,
        engine="parallel",
    )
    # When it runs, Then it raises LeaseLostError once the lease could not be renewed in time
    began = time.monotonic()
    with pytest.raises(LeaseLostError, match="expired"):
        engine.run()
    assert time.monotonic() - began < 4.0  # liveness: it did not wait for the task
    assert backend.get_flow_detail("cut").atoms["slow"].state is AtomState.RUNNING


def _tail(journal: Journal) -> list[sf.Task]:
    class Tail(sf.Task):
        def execute(self, s: int) -> int:
            journal.record("execute")
            return s

    return [Tail("c", provides="c")]


# -- other processes --------------------------------------------------------------------


class Holder:
    """``_holder.py`` running in a subprocess, with its log."""

    def __init__(
        self, url: str, flow_id: str, ttl: float, log: Path, *, fork_child: bool = False
    ) -> None:
        self.log = log
        env = {**os.environ, "HOLDER_FORKS_A_CHILD": "1"} if fork_child else None
        self.process = subprocess.Popen(
            [sys.executable, str(HOLDER), url, flow_id, str(ttl), str(log)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def wait_running(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line == "running\n", line

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        out, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, out

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        # wait(), not communicate(): a child the holder forked may keep its stdout open.
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        if holder.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(holder.process.pid, signal.SIGCONT)
            holder.kill()


def _durable(store_url: str) -> None:
    if store_url == "memory://":
        pytest.skip("a memory store dies with its process")


def _log(path: Path) -> list[tuple[int, str, str, float]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        pid, event, atom, at = line.split()
        rows.append((int(pid), event, atom, float(at)))
    return rows


def _run_when_free(flow: sf.Linear, url: str, flow_id: str, limit: float = 20) -> sf.Engine:
    """Run the flow as soon as its lease is free; counts the refusals on the way."""
    deadline = time.monotonic() + limit
    while True:
        engine = sf.load(flow, backend=url, flow_id=flow_id, lease_ttl=2)
        try:
            engine.run()
        except FlowLockedError:
            engine.close()
            assert time.monotonic() < deadline, "the lease was never freed"
            time.sleep(0.1)
            continue
        return engine


def _same_flow(pid_log: Path) -> sf.Linear:
    """The holder's flow, logging to the same file under this process's pid."""

    class Step(sf.Task):
        def execute(self) -> str:
            with pid_log.open("a") as log:
                log.write(f"{os.getpid()} start {self.name} {time.time():.6f}\n")
                log.write(f"{os.getpid()} end {self.name} {time.time():.6f}\n")
            return self.name

    return sf.Linear("held", *(Step(name, provides=name) for name in ("a", "slow", "c")))


@pytest.mark.crash
def test_a_killed_holder_blocks_its_flow_only_until_its_lease_expires(
    store_url: str, tmp_path: Path, holders: list[Holder]
) -> None:
    _durable(store_url)
    log = tmp_path / "effects.log"
    # Given a holder with a 4 s lease, SIGKILLed in the middle of `slow`
    holder = Holder(store_url, "killed", 4.0, log)
    holders.append(holder)
    holder.wait_running()
    holder.kill()
    # When another runner tries at once, Then it is refused
    with (
        pytest.raises(FlowLockedError) as refused,
        sf.load(_same_flow(log), backend=store_url, flow_id="killed") as engine,
    ):
        engine.run()
    assert refused.value.holder is not None
    assert refused.value.holder != process_owner()
    # And once the lease expired it takes over: `a` is not run again, `slow` is
    with _run_when_free(_same_flow(log), store_url, "killed") as engine:
        assert engine.storage.flow_state is FlowState.SUCCESS
        assert engine.storage.get_attempt("slow") == 1  # the interrupted attempt, resumed
    mine = [(event, atom) for pid, event, atom, _ in _log(log) if pid == os.getpid()]
    assert ("start", "a") not in mine
    assert ("start", "slow") in mine


@pytest.mark.crash
def test_a_killed_holder_whose_task_forked_a_child_is_taken_over(
    store_url: str, tmp_path: Path, holders: list[Holder]
) -> None:
    _durable(store_url)
    log = tmp_path / "effects.log"
    # Given a holder whose first task forked a child that keeps every descriptor
    # and socket of the holder open, and the holder SIGKILLed in the middle of `slow`
    holder = Holder(store_url, "orphan", 2.0, log, fork_child=True)
    holders.append(holder)
    holder.wait_running()
    holder.kill()
    orphans = [int(atom) for _, event, atom, _ in _log(log) if event == "forked"]
    assert len(orphans) == 1
    try:
        # When another runner tries, Then the orphan does not keep the flow: once the
        # dead holder's lease expired, the runner takes over and finishes the flow
        with _run_when_free(_same_flow(log), store_url, "orphan") as engine:
            assert engine.storage.flow_state is FlowState.SUCCESS
        os.kill(orphans[0], 0)  # the orphan was alive all along
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(orphans[0], signal.SIGKILL)


@pytest.mark.crash
def test_a_frozen_holder_is_taken_over_and_its_late_writes_are_refused(
    store_url: str, tmp_path: Path, holders: list[Holder]
) -> None:
    _durable(store_url)
    log = tmp_path / "effects.log"
    # Given a holder with a 1 s lease, frozen with SIGSTOP in the middle of `slow`
    holder = Holder(store_url, "frozen", 1.0, log)
    holders.append(holder)
    holder.wait_running()
    os.kill(holder.process.pid, signal.SIGSTOP)
    # When another runner takes the flow over once the lease expired and finishes it
    engine = _run_when_free(_same_flow(log), store_url, "frozen")
    engine.close()
    taken_over = time.time()
    with sf.persistence.open_backend(store_url) as store:
        finished = store.get_flow_detail("frozen")
    # And the frozen holder is woken up
    os.kill(holder.process.pid, signal.SIGCONT)
    code, out = holder.finish()
    # Then it noticed that it lost the flow and wrote nothing: the store is as the taker left it
    assert code == 4, out
    with sf.persistence.open_backend(store_url) as store:
        after = store.get_flow_detail("frozen")
    assert after.state is FlowState.SUCCESS
    assert {n: (a.state, a.result) for n, a in after.atoms.items()} == {
        n: (a.state, a.result) for n, a in finished.atoms.items()
    }
    assert after.version == finished.version
    # And it started nothing after the takeover (finishing the task body it was frozen in is
    # the documented at-least-once case; its result was not recorded)
    late = [
        (event, atom)
        for pid, event, atom, at in _log(log)
        if pid == holder.process.pid and at > taken_over and event == "start"
    ]
    assert late == []


def _terminate_sessions(store_url: str, tag: str) -> int:
    """End the holder's database sessions from the server side; how many were ended."""
    if store_url.startswith("postgresql"):
        import psycopg

        base = store_url.split("?", 1)[0]
        with psycopg.connect(base, autocommit=True) as pg_admin:
            rows = pg_admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (tag,),
            ).fetchall()
        return len(rows)
    from _services import _mysql_connect

    database = store_url.rsplit("/", 1)[1].split("?", 1)[0]
    admin: Any = _mysql_connect(store_url, database="")
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM information_schema.processlist"
                " WHERE db = %s AND id <> CONNECTION_ID()",
                (database,),
            )
            ids = [row[0] for row in cursor.fetchall()]
            for session in ids:
                with contextlib.suppress(Exception):
                    cursor.execute(f"KILL {int(session)}")
        return len(ids)
    finally:
        admin.close()


@pytest.mark.crash
@pytest.mark.parametrize("database", ["postgresql", "mysql"])
def test_dropping_the_holders_sessions_hands_the_flow_to_nobody_else(
    database: str, request: pytest.FixtureRequest, tmp_path: Path, holders: list[Holder]
) -> None:
    fixture = "postgres_url" if database == "postgresql" else "mysql_url"
    store_url: str = request.getfixturevalue(fixture)
    tag = f"holder_{uuid.uuid4().hex[:10]}"
    holder_url = store_url
    if database == "postgresql":
        holder_url = f"{store_url}&application_name={tag}"
    log = tmp_path / "effects.log"
    # Given a holder whose database sessions are all terminated while `slow` runs
    holder = Holder(holder_url, "dropped", 5.0, log)
    holders.append(holder)
    holder.wait_running()
    assert _terminate_sessions(store_url, tag) >= 1
    # When another runner tries, Then the lease still stands: it is refused
    with (
        pytest.raises(FlowLockedError),
        sf.load(_same_flow(log), backend=store_url, flow_id="dropped") as engine,
    ):
        engine.run()
    # And the holder reconnects and finishes the flow by itself
    code, out = holder.finish()
    assert code == 0, out
    with sf.persistence.open_backend(store_url) as store:
        assert store.get_flow_detail("dropped").state is FlowState.SUCCESS
    assert {pid for pid, *_ in _log(log)} == {holder.process.pid}


def test_close_releases_an_owned_backend(tmp_path: Path) -> None:
    engine = sf.load(
        chain(Journal(), ["a"]), store={"start": 0}, backend=f"sqlite:///{tmp_path}/x.db"
    )
    engine.run()
    engine.close()
    engine.close()
    record_backend: Backend = engine._record.backend  # type: ignore[union-attr]
    assert record_backend.closed


def test_a_takeover_refusing_the_final_write_ends_the_run_with_lease_lost(
    backend: Backend,
) -> None:
    # Given a flow whose last task sees the flow taken over while it runs, so
    # that the write of its result with the flow's end is refused by the fence
    journal = Journal()

    class TakenOver(sf.Task):
        def execute(self, a: int) -> int:
            current = backend.get_lease("final")
            assert current is not None
            backend.acquire_lease("final", "taker", 30, epoch=current.epoch + 1)
            return a

    flow = sf.Linear("final", *chain(journal, ["a"]).children, TakenOver("last", provides="z"))
    engine = sf.load(flow, store={"start": 0}, backend=backend, flow_id="final", lease_ttl=30)
    # When it runs
    # Then it ends with LeaseLostError (the fence's own error, not a generic conflict)
    with pytest.raises(LeaseLostError):
        engine.run()
    assert backend.get_flow_detail("final").state is not FlowState.SUCCESS


class _PausedAfterMarkingRunning(MemoryBackend):
    """A store after whose write of b RUNNING the runner stalls past its lease, taken over."""

    def save_atom_details(
        self, flow_uuid: str, atoms: Sequence[AtomDetail], *, epoch: int | None = None
    ) -> None:
        super().save_atom_details(flow_uuid, atoms, epoch=epoch)
        if any(atom.name == "b" and atom.state is AtomState.RUNNING for atom in atoms):
            current = self.get_lease(flow_uuid)
            assert current is not None
            self.acquire_lease(flow_uuid, "taker", 30, epoch=current.epoch + 1)
            time.sleep(current.ttl * 1.5)  # as if frozen: the lease lapses meanwhile


def test_a_runner_stalled_past_its_lease_before_starting_a_round_starts_nothing() -> None:
    # Given a run that stalls past its lease (and is taken over) right after
    # making b's RUNNING mark durable, before handing b to the executor
    journal = Journal()
    backend = _PausedAfterMarkingRunning()
    flow = chain(journal, ["a", "b", "c"])
    engine = sf.load(flow, store={"start": 0}, backend=backend, flow_id="stall", lease_ttl=0.4)
    # When it goes on
    # Then it stops with LeaseLostError without starting b
    with pytest.raises(LeaseLostError):
        engine.run()
    assert journal.names("execute") == ["a"]


class _LostCommit(MemoryBackend):
    """A store whose first flow save lands, but whose answer is lost with the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = 0

    def save_flow_detail(self, *args: Any, **kwargs: Any) -> Any:
        saved = super().save_flow_detail(*args, **kwargs)
        if self.lost == 0 and args[1].state is FlowState.RUNNING:
            self.lost += 1
            raise BackendUnavailableError("the connection dropped before the commit's answer")
        return saved


def test_a_write_whose_commit_answer_was_lost_is_made_again() -> None:
    # Given a store that commits a flow save but reports it failed (the connection died)
    journal = Journal()
    backend = _LostCommit()
    # When a run writes through it, Then the retried write goes through: the epoch
    # fences others out, so the write is not refused for the version it already bumped
    sf.load(chain(journal, ["a", "b"]), store={"start": 0}, backend=backend, flow_id="lc").run()
    assert backend.lost == 1
    assert backend.get_flow_detail("lc").state is FlowState.SUCCESS
    assert journal.names("execute") == ["a", "b"]

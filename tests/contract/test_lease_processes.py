"""Leases between processes: killed, paused and racing holders, and lost sessions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from steadyflow.errors import FlowLockedError, LeaseLostError
from steadyflow.persistence import AtomDetail, Backend, FlowDetail, LogBook, open_backend

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .conftest import Target

SRC = str(Path(__file__).resolve().parents[2] / "src")

# A holder that keeps its lease renewed until told to write, then reports.
_HOLDER = """
import json, sys
from steadyflow.errors import LeaseLostError
from steadyflow.persistence import AtomDetail, open_backend
from steadyflow.persistence.leases import LeaseKeeper, process_owner
import time

url, flow_uuid, ttl = sys.argv[1], sys.argv[2], float(sys.argv[3])
backend = open_backend(url)
started = time.monotonic()
lease = backend.acquire_lease(flow_uuid, process_owner(), ttl)
keeper = LeaseKeeper(backend, lease, acquired_at=started).start()
print(json.dumps({"epoch": lease.epoch}), flush=True)
sys.stdin.readline()
outcome = {}
try:
    backend.save_atom_details(flow_uuid, [AtomDetail(name="zombie")], epoch=keeper.epoch)
    outcome["write"] = "saved"
except LeaseLostError:
    outcome["write"] = "refused"
try:
    backend.renew_lease(keeper.lease)
    outcome["renew"] = "renewed"
except LeaseLostError:
    outcome["renew"] = "refused"
print(json.dumps(outcome), flush=True)
"""

# A racer: opens the store, says so, then tries each flow id at its start time.
_RACER = """
import json, sys, time
from steadyflow.errors import FlowLockedError
from steadyflow.persistence import open_backend

url, prefix, rounds, gap = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
backend = open_backend(url)
print("ready", flush=True)
start = float(sys.stdin.readline())
outcomes = []
for n in range(rounds):
    time.sleep(max(0.0, start + n * gap - time.time()))
    try:
        backend.acquire_lease(f"{prefix}-{n}", "p", 60.0)
        outcomes.append("won")
    except FlowLockedError:
        outcomes.append("locked")
    except Exception as exc:
        outcomes.append(f"{type(exc).__name__}: {exc}")
print(json.dumps(outcomes), flush=True)
"""


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Child processes, killed and reaped whatever the test did."""
    spawned: list[subprocess.Popen[str]] = []
    yield spawned
    for child in spawned:
        if child.poll() is None:
            child.send_signal(signal.SIGCONT)
            child.kill()
        child.communicate(timeout=30)


def _read_json(child: subprocess.Popen[str]) -> object:
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line, f"child exited with {child.wait()}"
    return json.loads(line)


def _take_over(backend: Backend, flow_uuid: str, *, within: float = 20.0) -> int:
    deadline = time.monotonic() + within
    while True:
        try:
            return backend.acquire_lease(flow_uuid, "taker", 60.0).epoch
        except FlowLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stored_flow(backend: Backend) -> str:
    book = LogBook(name="book")
    backend.save_logbook(book)
    return backend.save_flow_detail(book.uuid, FlowDetail(name="flow")).uuid


def _skip_unless_shared(target: Target) -> None:
    if not target.cross_process:
        pytest.skip("a memory store is private to its process")


@pytest.mark.crash
def test_a_killed_holder_is_taken_over_once_its_lease_expires(
    backend: Backend, target: Target, processes: list[subprocess.Popen[str]]
) -> None:
    _skip_unless_shared(target)
    # Given another process holding the flow's lease, renewing it
    flow_uuid = _stored_flow(backend)
    holder = _spawn(_HOLDER, target.url, flow_uuid, "1.0")
    processes.append(holder)
    held = _read_json(holder)
    assert isinstance(held, dict)
    with pytest.raises(FlowLockedError):
        backend.acquire_lease(flow_uuid, "taker", 60.0)
    # When it is killed
    holder.kill()
    holder.wait(timeout=10)
    # Then the flow is taken over once the lease runs out, with a larger epoch
    assert _take_over(backend, flow_uuid) > held["epoch"]


@pytest.mark.crash
def test_a_paused_holder_is_fenced_out_after_a_takeover(
    backend: Backend, target: Target, processes: list[subprocess.Popen[str]]
) -> None:
    _skip_unless_shared(target)
    # Given another process holding the flow's lease
    flow_uuid = _stored_flow(backend)
    holder = _spawn(_HOLDER, target.url, flow_uuid, "1.0")
    processes.append(holder)
    held = _read_json(holder)
    assert isinstance(held, dict)
    # When it is paused past its ttl and this process takes the flow over
    holder.send_signal(signal.SIGSTOP)
    assert _take_over(backend, flow_uuid) > held["epoch"]
    # And it then wakes up and writes under its old epoch
    holder.send_signal(signal.SIGCONT)
    assert holder.stdin is not None
    holder.stdin.write("go\n")
    holder.stdin.flush()
    # Then its write and its renewal are refused, and nothing of it is visible
    assert _read_json(holder) == {"write": "refused", "renew": "refused"}
    assert "zombie" not in backend.get_flow_detail(flow_uuid).atoms


def test_racers_for_a_new_flow_get_one_winner_and_flow_locked_errors(
    backend: Backend, target: Target, processes: list[subprocess.Popen[str]]
) -> None:
    # Given threads (each with its own backend object) and, for shared
    # stores, two processes, all trying to take the same new flow ids at once
    # (more rounds on MariaDB, where a race can also end in a deadlock)
    rounds = 12 if target.name == "mysql" else 5
    gap = 0.1
    racers = (
        [_spawn(_RACER, target.url, "race", str(rounds), str(gap))] if target.cross_process else []
    )
    if target.cross_process:
        racers.append(_spawn(_RACER, target.url, "race", str(rounds), str(gap)))
    processes.extend(racers)
    for racer in racers:
        assert racer.stdout is not None
        assert racer.stdout.readline().strip() == "ready"
    threads_outcomes: list[list[str]] = [[] for _ in range(3)]
    objects = (
        [backend] if not target.cross_process else [open_backend(target.url) for _ in range(3)]
    )
    start = time.time() + 0.5
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write(f"{start}\n")
        racer.stdin.flush()

    def race(index: int) -> None:
        store = objects[index % len(objects)]
        for n in range(rounds):
            time.sleep(max(0.0, start + n * gap - time.time()))
            try:
                store.acquire_lease(f"race-{n}", f"t{index}", 60.0)
                threads_outcomes[index].append("won")
            except FlowLockedError:
                threads_outcomes[index].append("locked")
            except Exception as exc:
                threads_outcomes[index].append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = [*threads_outcomes, *[_read_json(racer) for racer in racers]]
    if target.cross_process:
        for store in objects:
            store.close()
    # Then every round has exactly one winner and every loser got FlowLockedError
    for n in range(rounds):
        this_round = sorted(str(racer_outcomes[n]) for racer_outcomes in outcomes)  # type: ignore[index]
        assert this_round == ["locked"] * (len(outcomes) - 1) + ["won"], f"round {n}"


@pytest.mark.postgres
def test_terminated_postgresql_sessions_keep_the_lease(postgres_url: str) -> None:
    import psycopg

    with open_backend(postgres_url) as backend, open_backend(postgres_url) as other:
        # Given a lease held through a backend whose pool has several sessions
        flow_uuid = _stored_flow(backend)
        lease = backend.acquire_lease(flow_uuid, "a", 60.0)
        engine = backend.engine  # type: ignore[attr-defined]
        connections = [engine.connect() for _ in range(3)]
        pids = [c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for c in connections]
        for connection in connections:
            connection.close()
        # When the server terminates every one of those sessions
        admin_url = "postgresql://" + postgres_url.split("://", 1)[1]
        with psycopg.connect(admin_url.split("?", 1)[0], autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # Then the lease is still held, and the holder's next writes and renewal work
        with pytest.raises(FlowLockedError):
            other.acquire_lease(flow_uuid, "b", 60.0)
        backend.save_atom_details(flow_uuid, [AtomDetail(name="t")], epoch=lease.epoch)
        assert backend.renew_lease(lease).epoch == lease.epoch
        assert "t" in other.get_flow_detail(flow_uuid).atoms
        # And the lease still fences: once taken over, the holder's renewal is refused
        other.acquire_lease(flow_uuid, "b", 60.0, epoch=lease.epoch + 1)
        with pytest.raises(LeaseLostError):
            backend.renew_lease(lease)


@pytest.mark.parametrize(
    "service",
    [
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def test_a_writer_stuck_inside_a_fenced_transaction_does_not_hang_takers(
    service: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import update

    from steadyflow.persistence.sql import _leases
    from steadyflow.persistence.sql import backend as sql_backend
    from steadyflow.persistence.sql._schema import LEASES

    monkeypatch.setattr(_leases, "LOCK_WAIT_SECONDS", 1)
    monkeypatch.setattr(sql_backend, "_ACQUIRE_ATTEMPTS", 1)
    url = request.getfixturevalue("postgres_url" if service == "postgresql" else "mysql_url")
    with open_backend(url) as holder, open_backend(url) as taker:
        # Given a holder paused in the middle of a fenced write (its lease row locked)
        lease = holder.acquire_lease("flow-1", "a", 0.1)
        engine = holder.engine  # type: ignore[attr-defined]
        with engine.connect() as stuck:
            # as on a server that cannot end an idle transaction (MySQL): the lock
            # wait alone must bound the taker (test_frozen_holder covers the timeout)
            stuck.exec_driver_sql(
                "SET idle_in_transaction_session_timeout = 0"
                if service == "postgresql"
                else "SET SESSION idle_transaction_timeout = 0"
            )
            stuck.commit()
            stuck.execute(
                update(LEASES).where(LEASES.c.flow_uuid == "flow-1").values(epoch=LEASES.c.epoch)
            )
            time.sleep(0.2)
            # When another runner tries to take the (expired) flow over
            # Then it is refused after a bounded wait instead of hanging
            with pytest.raises(FlowLockedError):
                taker.acquire_lease("flow-1", "b", 60.0)
            stuck.rollback()
        # And once the writer is gone, the takeover succeeds
        assert taker.acquire_lease("flow-1", "b", 60.0).epoch > lease.epoch

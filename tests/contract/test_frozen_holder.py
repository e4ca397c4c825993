"""A lease holder frozen inside a fenced write does not block its flow on a server store.

The fence row-locks the lease until the transaction ends, so a holder frozen
there (SIGSTOP, a debugger, a stalled VM) would keep every taker waiting for
as long as it stays frozen. The servers end such an idle transaction (rolled
back, nothing of it visible); see ``IDLE_TRANSACTION_SECONDS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy.exc import DBAPIError

from steadyflow.errors import LeaseLostError
from steadyflow.persistence import AtomDetail, FlowDetail, LogBook, open_backend
from steadyflow.persistence.leases import process_owner
from steadyflow.persistence.sql._leases import SQLLeases

if TYPE_CHECKING:
    from steadyflow.persistence.sql.backend import SQLBackend


@pytest.fixture(
    params=[
        pytest.param("postgres_url", marks=pytest.mark.postgres),
        pytest.param("mysql_url", marks=pytest.mark.mysql),
    ]
)
def server_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)
    return url


def _stored_flow(backend: SQLBackend, flow_uuid: str) -> None:
    book = LogBook(uuid=f"book-{flow_uuid}", name="book")
    backend.save_logbook(book)
    backend.save_flow_detail(book.uuid, FlowDetail(uuid=flow_uuid, name="flow"))


def test_a_holder_frozen_inside_a_fenced_write_is_ended_and_taken_over(server_url: str) -> None:
    holder: SQLBackend = open_backend(server_url)  # type: ignore[assignment]
    taker = open_backend(server_url)
    try:
        with holder.engine.connect():
            pass  # the dialect learns which server it talks to on first connect
        if holder.family.value == "mysql" and not getattr(holder.engine.dialect, "is_mariadb"):
            pytest.skip("MySQL has no idle-transaction timeout (documented limitation)")
        # Given a holder whose short lease has lapsed while it sits inside a fenced
        # write transaction: the lease row is locked, the write not committed
        _stored_flow(holder, "frozen")
        lease = holder.acquire_lease("frozen", process_owner(), 0.2)
        frozen = holder.engine.connect()
        frozen.begin()
        SQLLeases(holder.family).fence(frozen, "frozen", lease.epoch)
        holder.save_atom_details("frozen", [AtomDetail(name="before")], epoch=lease.epoch)
        # When another runner tries to take the flow over (its wait for the row lock
        # outlasts the server's idle-transaction timeout)
        taken = taker.acquire_lease("frozen", "taker", 30.0)
        # Then it gets the lease, the frozen session is gone, and the old epoch is fenced out
        assert taken.epoch > lease.epoch
        with pytest.raises(DBAPIError):
            frozen.exec_driver_sql("SELECT 1")
        frozen.invalidate()
        frozen.close()
        with pytest.raises(LeaseLostError):
            holder.save_atom_details("frozen", [AtomDetail(name="late")], epoch=lease.epoch)
        assert set(taker.get_flow_detail("frozen").atoms) == {"before"}
    finally:
        holder.close()
        taker.close()


def test_postgres_atom_batches_are_single_statements_not_pipelines(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a PostgreSQL store whose driver would pipeline an executemany (a holder
    # frozen halfway through a pipeline is "active", out of the idle timeout's reach)
    psycopg = pytest.importorskip("psycopg")

    def no_pipelines(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("executemany would pipeline the batch")

    backend: SQLBackend = open_backend(postgres_url)  # type: ignore[assignment]
    try:
        _stored_flow(backend, "batched")
        monkeypatch.setattr(psycopg.Cursor, "executemany", no_pipelines)
        # When a batch of atoms is saved
        atoms = [AtomDetail(name=f"a{i}") for i in range(5)]
        backend.save_atom_details("batched", atoms)
        backend.save_atom_details("batched", atoms)  # the upsert path too
        # Then it was stored without executemany
        assert set(backend.get_flow_detail("batched").atoms) == {f"a{i}" for i in range(5)}
    finally:
        backend.close()

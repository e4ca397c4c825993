"""The standard-library SQLite backend's own promises: its schema, its file, its threads."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from steadyflow.errors import LeaseLostError, PersistenceError, SchemaVersionError
from steadyflow.persistence import (
    AtomDetail,
    FlowDetail,
    LogBook,
    SQLiteBackend,
    open_backend,
)
from steadyflow.persistence.sqlite import SCHEMA_VERSION
from steadyflow.states import AtomState

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _book_with_a_flow() -> tuple[LogBook, FlowDetail]:
    flow = FlowDetail(name="boot").with_atoms(
        AtomDetail(name="create vm", state=AtomState.SUCCESS, result={"id": "vm-1"}),
        AtomDetail(name="attach ip", state=AtomState.RUNNING),
    )
    book = LogBook(name="tenant-7").with_flows(flow)
    return book, flow


def _pragma(path: Path, name: str) -> object:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


def _alembic_stamp(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return str(db.execute("SELECT version_num FROM steadyflow_alembic_version").fetchone()[0])


def test_sqlite_urls_open_the_standard_library_backend(tmp_path: Path) -> None:
    with open_backend(f"sqlite:///{tmp_path}/state.db") as backend:
        assert isinstance(backend, SQLiteBackend)
        assert backend.path == str(tmp_path / "state.db")
    with open_backend("sqlite:///:memory:") as backend:
        assert isinstance(backend, SQLiteBackend)
        assert backend.path is None


def test_relative_sqlite_urls_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_backend("sqlite:///state.db") as backend:
        assert isinstance(backend, SQLiteBackend)
        assert backend.path == str(tmp_path / "state.db")


def test_a_new_file_is_in_wal_mode_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SQLiteBackend(path).close()
    assert _pragma(path, "journal_mode") == "wal"
    assert _pragma(path, "user_version") == SCHEMA_VERSION
    # Alembic's stamp is kept current too, so SQLBackend can open the file later.
    assert _alembic_stamp(path) == "0003"


def test_a_store_made_by_the_sqlalchemy_backend_is_adopted_without_loss(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine

    from steadyflow.persistence.sql import _migrate

    # Given a store created by an older steadyflow through Alembic (revision 0001: no
    # leases table), holding a logbook written by the SQLAlchemy backend
    path = tmp_path / "state.db"
    engine = create_engine(f"sqlite:///{path}")
    config = _migrate._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    engine.dispose()
    book, flow = _book_with_a_flow()
    _write_at_revision_0001(path, book)
    # When the standard-library backend opens it
    with SQLiteBackend(path) as backend:
        # Then everything is there, and leases work
        assert backend.get_logbook(book.uuid) == book
        lease = backend.acquire_lease(flow.uuid, "me", 30)
        backend.save_atom_details(flow.uuid, [AtomDetail(name="x")], epoch=lease.epoch)
    assert _pragma(path, "user_version") == SCHEMA_VERSION
    assert _alembic_stamp(path) == "0003"
    # And the SQLAlchemy backend still opens it and sees the same records
    from steadyflow.persistence.sql import SQLBackend

    with SQLBackend(url=f"sqlite:///{path}") as sql_backend:
        assert set(sql_backend.get_flow_detail(flow.uuid).atoms) == {"create vm", "attach ip", "x"}


def _write_at_revision_0001(path: Path, book: LogBook) -> None:
    """Save ``book`` as the SQLAlchemy backend did before leases existed."""
    from sqlalchemy import create_engine, insert

    from steadyflow.persistence._rows import atom_to_row, book_to_row, flow_to_row
    from steadyflow.persistence.serializer import JSONSerializer
    from steadyflow.persistence.sql._schema import ATOMS, FLOWS, LOGBOOKS

    serializer = JSONSerializer()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(insert(LOGBOOKS), [book_to_row(book, serializer)])
        for flow in book.flows.values():
            connection.execute(insert(FLOWS), [flow_to_row(book.uuid, flow, serializer)])
            rows = [atom_to_row(flow.uuid, atom, serializer) for atom in flow.atoms.values()]
            connection.execute(insert(ATOMS), rows)
    engine.dispose()


def test_a_store_made_by_this_backend_opens_with_the_sqlalchemy_backend(tmp_path: Path) -> None:
    from steadyflow.persistence.sql import SQLBackend

    book, flow = _book_with_a_flow()
    with SQLiteBackend(tmp_path / "state.db") as backend:
        backend.save_logbook(book)
    with SQLBackend(url=f"sqlite:///{tmp_path}/state.db") as sql_backend:
        loaded = sql_backend.get_logbook(book.uuid)
        assert loaded.flows[flow.uuid].atoms == flow.atoms
        assert sql_backend.acquire_lease(flow.uuid, "me", 30).epoch == 1


def test_a_newer_user_version_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SQLiteBackend(path).close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaVersionError, match=f"version {SCHEMA_VERSION + 1}"):
        SQLiteBackend(path)
    assert _pragma(path, "user_version") == SCHEMA_VERSION + 1


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(Exception, match=r"state\.db") as caught:
        SQLiteBackend(path)
    assert type(caught.value).__module__ == "steadyflow.errors"


def test_a_too_old_sqlite_library_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 22, 0))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.22.0")
    with pytest.raises(PersistenceError, match=r"needs SQLite 3\.24\.0 or newer.*3\.22\.0"):
        SQLiteBackend(tmp_path / "state.db")
    assert not (tmp_path / "state.db").exists()


def test_processes_creating_one_store_at_once_all_succeed(tmp_path: Path) -> None:
    # Given several processes that open the same brand-new file at the same moment
    code = (
        "import sys; from steadyflow.persistence import SQLiteBackend\n"
        "sys.stdin.read()\n"
        f"SQLiteBackend({str(tmp_path / 'state.db')!r}).close()\n"
    )
    env = {"PYTHONPATH": SRC}
    children = [
        subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, env=env)
        for _ in range(4)
    ]
    # When they are released together
    for child in children:
        assert child.stdin is not None
        child.stdin.close()
    # Then every one of them opened it, and the schema was created once
    assert [child.wait(timeout=60) for child in children] == [0, 0, 0, 0]
    assert _pragma(tmp_path / "state.db", "user_version") == SCHEMA_VERSION


def test_a_renewing_thread_and_a_writing_thread_share_one_backend(tmp_path: Path) -> None:
    # Given a flow leased by one backend object, as the engine and its lease keeper share it
    book, flow = _book_with_a_flow()
    errors: list[BaseException] = []
    with SQLiteBackend(tmp_path / "state.db") as backend:
        backend.save_logbook(book)
        lease = backend.acquire_lease(flow.uuid, "me", 30)
        stop = threading.Event()

        def keep_renewing() -> None:
            try:
                while not stop.is_set():
                    backend.renew_lease(lease)
            except BaseException as exc:
                errors.append(exc)

        keeper = threading.Thread(target=keep_renewing)
        keeper.start()
        # When the other thread writes fenced batches meanwhile
        try:
            for i in range(200):
                atom = AtomDetail(name=f"t{i}", state=AtomState.SUCCESS, result=i)
                backend.save_atom_details(flow.uuid, [atom], epoch=lease.epoch)
        finally:
            stop.set()
            keeper.join()
        # Then both went through, and every batch is stored
        assert errors == []
        assert len(backend.get_flow_detail(flow.uuid).atoms) == 2 + 200


def test_a_forked_child_uses_a_connection_of_its_own(tmp_path: Path) -> None:
    # Given a backend opened and used before a fork
    book, flow = _book_with_a_flow()
    with SQLiteBackend(tmp_path / "state.db") as backend:
        backend.save_logbook(book)
        pid = os.fork()
        if pid == 0:  # the child: write through the inherited object, then vanish
            code = 1
            try:
                backend.save_atom_details(flow.uuid, [AtomDetail(name="from child")])
                code = 0 if backend._inherited else 2  # it opened its own connection

            finally:
                os._exit(code)
        # When the child has written and exited (without closing anything)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # Then the parent's connection still works and sees the child's write
        backend.save_atom_details(flow.uuid, [AtomDetail(name="from parent")])
        assert {"from child", "from parent"} <= set(backend.get_flow_detail(flow.uuid).atoms)


@pytest.mark.parametrize(
    ("timeout", "error"), [(-1, ValueError), ("5", TypeError), (True, TypeError)]
)
def test_a_bad_busy_timeout_is_refused(tmp_path: Path, timeout: object, error: type) -> None:
    with pytest.raises(error, match="busy_timeout"):
        SQLiteBackend(tmp_path / "state.db", busy_timeout=timeout)  # type: ignore[arg-type]


def test_a_fenced_write_from_another_process_is_refused_after_a_takeover(
    tmp_path: Path,
) -> None:
    # Given a lease taken here, then taken over by an explicit newer epoch elsewhere
    book, flow = _book_with_a_flow()
    path = tmp_path / "state.db"
    with SQLiteBackend(path) as backend:
        backend.save_logbook(book)
        lease = backend.acquire_lease(flow.uuid, "me", 30)
        code = (
            "from steadyflow.persistence import SQLiteBackend\n"
            f"SQLiteBackend({str(path)!r}).acquire_lease({flow.uuid!r}, 'them', 30, "
            f"epoch={lease.epoch + 5})\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": SRC})
        # When this holder writes with its old epoch, then nothing is saved
        with pytest.raises(LeaseLostError):
            backend.save_atom_details(flow.uuid, [AtomDetail(name="zombie")], epoch=lease.epoch)
        assert "zombie" not in backend.get_flow_detail(flow.uuid).atoms
        assert backend.get_lease(flow.uuid) is not None


def test_a_bare_install_runs_and_reads_back_a_persisted_flow(tmp_path: Path) -> None:
    # Given a process where SQLAlchemy and Alembic cannot be imported (no extras installed)
    code = (
        "import sys\n"
        "sys.modules['sqlalchemy'] = sys.modules['alembic'] = None\n"
        "import steadyflow as sf\n"
        "@sf.task(provides='vm')\n"
        "def create_vm(image: str) -> str:\n"
        "    return 'vm-' + image\n"
        f"url = {f'sqlite:///{tmp_path}/state.db'!r}\n"
        "print(sf.run(sf.Linear('boot', create_vm), store={'image': 'debian'},"
        " backend=url, flow_id='boot-1')['vm'])\n"
        "with sf.persistence.open_backend(url) as backend:\n"
        "    print(backend.get_flow_detail('boot-1').state)\n"
    )
    # When it runs a persisted flow on SQLite and reads it back
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC},
        check=False,
    )
    # Then both work
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["vm-debian", "SUCCESS"]

"""What only the SQL boards promise: URLs, schema versions, sharing a database, names."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import _services
from steadyflow.errors import InvalidURLError, SchemaVersionError
from steadyflow.jobs import JobBoard, JobState, open_board
from steadyflow.jobs.sqlite import SQLiteBoard
from steadyflow.persistence import FlowDetail, LogBook, open_backend

if TYPE_CHECKING:
    from collections.abc import Iterator

SRC = str(Path(__file__).resolve().parents[2] / "src")
FACTORY = "farm.flows:noop"

SQL_KINDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mysql),
]


@pytest.fixture(params=SQL_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of each SQL kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/shared.db"
        return
    namespace = (
        _services.postgres_namespace if request.param == "postgresql" else _services.mysql_namespace
    )
    with namespace() as url:
        yield url


def test_importing_the_jobs_package_imports_no_driver() -> None:
    code = (
        "import sys, steadyflow.jobs as j; j.open_board('memory://').close();"
        "bad = [m for m in ('sqlalchemy', 'psycopg', 'pymysql', 'sqlite3') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": SRC})


def test_open_board_picks_the_board_for_the_scheme(database_url: str) -> None:
    with open_board(database_url, name="picked") as board:
        expected = "SQLiteBoard" if database_url.startswith("sqlite") else "SQLBoard"
        assert type(board).__name__ == expected
        assert board.name == "picked"


def test_a_board_shares_a_database_with_a_store(database_url: str) -> None:
    # Given a store and a board in one database, opened in either order
    with open_backend(database_url) as store, open_board(database_url, name="b") as board:
        book = LogBook(name="book")
        store.save_logbook(book)
        flow = store.save_flow_detail(book.uuid, FlowDetail(name="flow"))
        job = board.post("run", flow_id=flow.uuid)
    # Then reopening both finds each one's data, schemas untouched by the other
    with open_board(database_url, name="b") as board, open_backend(database_url) as store:
        assert board.get(job.id).flow_id == flow.uuid
        assert store.get_flow_detail(flow.uuid).name == "flow"


def test_boards_of_different_names_share_the_table_but_not_the_jobs(database_url: str) -> None:
    with (
        open_board(database_url, name="left") as left,
        open_board(database_url, name="right") as right,
    ):
        mine = left.post("job", factory=FACTORY, key="same-key")
        theirs = right.post("job", factory=FACTORY, key="same-key")
        assert mine.id != theirs.id
        assert [job.id for job in left.iter_jobs()] == [mine.id]
        claim = right.claim("owner", 30)
        assert claim is not None
        assert claim.job.id == theirs.id
        assert right.claim("owner-2", 30) is None
        assert left.get(mine.id).state is JobState.UNCLAIMED
        with pytest.raises(LookupError):
            left.get(theirs.id)


def test_racing_first_opens_create_the_schema_once(database_url: str) -> None:
    # Given eight boards opened at once on an empty database
    start = threading.Barrier(8)
    boards: list[JobBoard] = []
    errors: list[BaseException] = []

    def opener() -> None:
        start.wait()
        try:
            boards.append(open_board(database_url, name="racing"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        # Then every one opened, and they all see one table
        assert errors == []
        job = boards[0].post("job", factory=FACTORY)
        assert all(board.get(job.id).id == job.id for board in boards)
    finally:
        for board in boards:
            board.close()


def test_claims_expire_on_the_service_clock_not_the_callers(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a conductor whose clock runs an hour ahead
    with open_board(database_url, name="clocks") as board:
        board.post("job", factory=FACTORY)
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 3600)
        claim = board.claim("fast-clock", 30)
        # Then its claim still runs out 30 s from the service's now, and nobody
        # with the same skew can take it early
        assert claim is not None
        assert abs(claim.expires_at - (real() + 30)) < 5
        assert board.claim("also-fast", 30) is None


# -- SQLite ---------------------------------------------------------------------------------


def test_sqlite_board_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    SQLiteBoard(path).close()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE steadyflow_jobs_version SET version = 99")
    with pytest.raises(SchemaVersionError, match="99"):
        SQLiteBoard(path)
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT version FROM steadyflow_jobs_version").fetchall() == [(99,)]


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("sqlite://", "needs a file"),
        ("sqlite:///:memory:", "needs a file"),
        ("sqlite:///jobs.db?mode=ro", "no options"),
    ],
)
def test_sqlite_board_refuses_bad_urls(url: str, match: str) -> None:
    with pytest.raises(InvalidURLError, match=match):
        open_board(url)


@pytest.mark.parametrize("option", ["busy_timeout", "poll_interval"])
@pytest.mark.parametrize("value", [0, -1, True, "1"])
def test_sqlite_board_refuses_bad_options(tmp_path: Path, option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        SQLiteBoard(tmp_path / "jobs.db", **{option: value})  # type: ignore[arg-type]


def test_unknown_board_schemes_are_refused() -> None:
    with pytest.raises(InvalidURLError, match=r"known: .*mariadb.*postgresql.*sqlite"):
        open_board("oracle://db/x")


# -- PostgreSQL and MariaDB -------------------------------------------------------------------


def test_sql_board_sends_sqlite_urls_to_the_sqlite_board() -> None:
    from steadyflow.jobs.sql import SQLBoard

    with pytest.raises(InvalidURLError, match=r"sqlite:///path\.db"):
        SQLBoard(url="sqlite+pysqlite:///x.db")


def test_sql_board_needs_one_of_url_or_engine() -> None:
    from steadyflow.jobs.sql import SQLBoard

    with pytest.raises(TypeError, match="exactly one"):
        SQLBoard()


@pytest.mark.postgres
def test_a_waiter_on_postgresql_wakes_when_a_claim_expires(postgres_url: str) -> None:
    # Given a claim running out in 0.5 s and nothing else on the board
    with (
        open_board(postgres_url, name="expiry") as board,
        open_board(postgres_url, name="expiry") as waiter,
    ):
        board.post("job", factory=FACTORY)
        assert board.claim("short", 0.5) is not None
        # When another conductor waits (no post will come to wake it)
        began = time.monotonic()
        claim = waiter.claim("patient", 30, wait=10)
        # Then it is woken by the expiry, read from the database, not after its wait
        assert claim is not None
        assert time.monotonic() - began < 2.0


@pytest.mark.parametrize(
    ("is_mariadb", "version", "refused"),
    [
        (True, (10, 11, 19), False),
        (True, (10, 6, 0), False),
        (True, (10, 5, 22), "MariaDB 10.5.22"),
        (False, (8, 0, 36), "MySQL 8.0.36"),
    ],
)
def test_sql_board_refuses_servers_without_skip_locked_and_returning(
    is_mariadb: bool, version: tuple[int, ...], refused: str | bool
) -> None:
    from types import SimpleNamespace

    from steadyflow.errors import PersistenceError
    from steadyflow.jobs.sql import check_server
    from steadyflow.persistence.sql._dialects import Family

    dialect = SimpleNamespace(is_mariadb=is_mariadb, server_version_info=version)
    if not refused:
        check_server(Family.MYSQL, dialect, "db")
        return
    with pytest.raises(PersistenceError, match=f"needs MariaDB 10.6.*{refused}"):
        check_server(Family.MYSQL, dialect, "db")


@pytest.mark.postgres
def test_sql_board_recovers_from_its_connections_being_cut(postgres_url: str) -> None:
    import psycopg

    from steadyflow.errors import BackendUnavailableError
    from steadyflow.jobs import sql

    tag = f"sfjobs{uuid.uuid4().hex[:10]}"

    def cut() -> int:
        with psycopg.connect(_services.postgres_url(), autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (tag,),
            ).fetchall()
        return len(rows)

    with open_board(f"{postgres_url}&application_name={tag}", name="cut") as board:
        job = board.post("job", factory=FACTORY)
        # Given the server ended the board's sessions (a restart, an operator)
        assert cut() >= 1
        # When the board is used again after a pause: the pool's ping replaces them
        time.sleep(sql.FRESH_FOR + 0.2)
        assert board.get(job.id).id == job.id
        # And when it is used at once: one call fails, clearly; the next works
        cut()
        with contextlib.suppress(BackendUnavailableError):
            board.get(job.id)
        assert board.get(job.id).id == job.id


def test_sqlite_claims_never_scan_finished_jobs(tmp_path: Path) -> None:
    from steadyflow.jobs import sqlite as board_module

    SQLiteBoard(tmp_path / "jobs.db").close()
    pick = (
        f"SELECT seq FROM steadyflow_jobs WHERE {board_module._CLAIMABLE} "
        f"{board_module._ORDER} LIMIT 1"
    )
    with contextlib.closing(sqlite3.connect(tmp_path / "jobs.db")) as db:
        for query in (pick, board_module._LOOK):
            plan = " ".join(
                row[3]
                for row in db.execute(f"EXPLAIN QUERY PLAN {query}", {"board": "b", "owner": "o"})
            )
            assert "USING INDEX ix_steadyflow_jobs_claim (board=? AND state=?)" in plan, plan
            assert "SCAN steadyflow_jobs" not in plan, plan


def _open_files_on(path: Path) -> int:
    """How many file descriptors of this process point at the database or its WAL files."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd).startswith(str(path)):
                count += 1
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)")
def test_sqlite_board_closes_the_connection_of_a_thread_that_ended(tmp_path: Path) -> None:
    # Given a board used by this thread (its connection stays open)
    path = tmp_path / "jobs.db"
    board = SQLiteBoard(path, name="threads")
    job = board.post("job", factory="farm.flows:noop")
    baseline = _open_files_on(path)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            assert board.get(job.id).state is JobState.UNCLAIMED
        except BaseException as exc:
            errors.append(exc)

    # When 200 short-lived threads each make a board call (up to 20 at once)
    for _ in range(10):
        threads = [threading.Thread(target=call) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    # Then their connections were closed as they ended: open files stay bounded. (SQLite
    # defers closing a file descriptor while another connection of the process holds a
    # lock on the file, and reuses it: a few linger, bounded by the threads at once;
    # one connection per thread ever run would be 200 and more.)
    assert len(board._connections) == 1
    assert _open_files_on(path) <= baseline + 20
    # And the board still works, and close() releases what is left
    assert board.get(job.id).state is JobState.UNCLAIMED
    board.close()
    assert _open_files_on(path) == 0

"""What only the SQL boards promise: URLs, schema versions, sharing a database, names."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
import time
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

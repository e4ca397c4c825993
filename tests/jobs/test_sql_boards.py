"""What only the SQL boards promise: URLs, schema versions, sharing a database, names."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def test_a_job_claimed_with_a_completion_is_the_job_as_stored(database_url: str) -> None:
    # PostgreSQL returns it as JSON (row_to_json), the others as columns: either way
    # every field, floats and big integers included, must read back as stored.
    with open_board(database_url, name="as-stored") as board:
        board.post("first", factory=FACTORY)
        second = board.post(
            "second",
            factory=FACTORY,
            args=["é", 0.1, 2**70],
            kwargs={"none": None, "nested": {"x": [1.5e300]}},
            store={"s": 'quote " and \\ backslash'},
            priority=-1,
            key="k2",
        )
        claim = board.claim("a", 60)
        assert claim is not None
        following = claim.complete_and_claim()
        assert following is not None
        assert following.job == board.get(second.id)
        assert (following.epoch, following.expires_at) == (1, following.job.expires_at)
        assert following.job.args == ["é", 0.1, 2**70]


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


def test_a_claims_epoch_fences_the_flow_in_a_store_of_the_same_database(
    database_url: str,
) -> None:
    from steadyflow.errors import LeaseLostError
    from steadyflow.jobs import ClaimLostError
    from steadyflow.persistence import AtomDetail
    from steadyflow.states import AtomState

    with open_backend(database_url) as store, open_board(database_url, name="fenced") as board:
        # Given a job for a stored flow, claimed, and the flow leased with the claim's epoch
        book = LogBook(name="book")
        store.save_logbook(book)
        flow = store.save_flow_detail(book.uuid, FlowDetail(name="flow"))
        board.post("run", flow_id=flow.uuid)
        first = board.claim("zombie", 0.5)
        assert first is not None
        store.acquire_lease(flow.uuid, "zombie", 30, epoch=first.epoch)
        # When the claim lapses and another conductor claims the job and leases the flow
        time.sleep(0.8)
        heir = board.claim("heir", 30)
        assert heir is not None
        assert heir.epoch > first.epoch
        store.acquire_lease(flow.uuid, "heir", 30, epoch=heir.epoch)
        # Then the first owner can write neither the flow nor the job; the heir can
        atom = AtomDetail(name="step", state=AtomState.SUCCESS, result=1)
        with pytest.raises(LeaseLostError):
            store.save_atom_details(flow.uuid, [atom], epoch=first.epoch)
        store.save_atom_details(flow.uuid, [atom], epoch=heir.epoch)
        with pytest.raises(ClaimLostError):
            first.complete()
        heir.complete()
        assert store.get_flow_detail(flow.uuid).atoms["step"].result == 1


@pytest.mark.postgres
def test_sql_board_gives_back_the_connections_of_a_burst(postgres_url: str) -> None:
    from steadyflow.jobs import sql

    with open_board(postgres_url, name="burst") as board:
        assert isinstance(board, sql.SQLBoard)
        job = board.post("job", factory=FACTORY)
        start = threading.Barrier(8)

        def reader() -> None:
            start.wait()
            for _ in range(50):
                board.get(job.id)

        threads = [threading.Thread(target=reader) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        pool: Any = board.engine.pool
        assert pool.checkedout() > 1
        # After a pause, one call returns every connection the burst kept but itself
        time.sleep(sql.FRESH_FOR + 0.2)
        board.get(job.id)
        assert pool.checkedout() == 1


def test_sqlite_board_keeps_no_connection_per_finished_thread(tmp_path: Path) -> None:
    def open_files() -> int:
        fds = Path("/proc/self/fd")
        return sum(1 for fd in fds.iterdir() if str(tmp_path) in str(fd.resolve(strict=False)))

    with SQLiteBoard(tmp_path / "jobs.db") as board:
        job = board.post("job", factory=FACTORY)
        before = open_files()
        # When fifty short-lived threads use the board one after the other
        for _ in range(50):
            thread = threading.Thread(target=board.get, args=(job.id,))
            thread.start()
            thread.join()
        # Then it holds the files of as many connections as were in use at once
        assert open_files() == before
    assert open_files() == 0


@pytest.mark.postgres
def test_postgresql_listeners_are_shared_by_the_threads_that_wait(postgres_url: str) -> None:
    import psycopg

    tag = f"sfjobs{uuid.uuid4().hex[:10]}"

    def sessions() -> int:
        with psycopg.connect(_services.postgres_url(), autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (tag,)
            ).fetchone()
        assert row is not None
        return int(row[0])

    with open_board(f"{postgres_url}&application_name={tag}", name="listeners") as board:
        # When ten short-lived threads wait on the board one after the other
        for _ in range(10):
            thread = threading.Thread(target=board.wait, kwargs={"timeout": 0.05})
            thread.start()
            thread.join()
        # Then one listener served them all (plus the pool's connection)
        assert sessions() <= 2
    assert sessions() == 0


@pytest.mark.postgres
def test_complete_and_claim_on_an_engine_that_loads_json_as_text(postgres_url: str) -> None:
    # The next job comes back as a json column: a caller's engine whose connections
    # load json as text (their own adapters) must not break complete_and_claim.
    import psycopg.types.string
    from sqlalchemy import create_engine, event

    from steadyflow.jobs.sql import SQLBoard

    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))

    @event.listens_for(engine, "connect")
    def _json_as_text(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.adapters.register_loader("json", psycopg.types.string.TextLoader)

    try:
        with SQLBoard(engine=engine, name="json-as-text") as board:
            board.post("first", factory=FACTORY)
            second = board.post("second", factory=FACTORY, store={"a": [1]}, priority=-1)
            claim = board.claim("a", 60)
            assert claim is not None
            following = claim.complete_and_claim()
            assert following is not None
            assert following.job == board.get(second.id)
    finally:
        engine.dispose()


def _plan(url: str, sql: str, params: dict[str, Any]) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("BEGIN")
        try:
            return "\n".join(row[0] for row in db.execute(f"EXPLAIN {sql}", params))
        finally:
            db.execute("ROLLBACK")


def test_postgresql_claims_read_the_claim_index_on_a_young_table(postgres_url: str) -> None:
    # Given a board that finished many jobs and has some waiting, before any ANALYZE
    # (a young table: the planner has no statistics and guesses)
    with open_board(postgres_url, name="young") as board:
        for i in range(300):
            board.post(f"j{i}", factory=FACTORY)
        claim = board.claim("o", 60)
        for _ in range(200):
            assert claim is not None
            claim = claim.complete_and_claim()
        assert claim is not None
        sql = board._sql  # type: ignore[attr-defined]
        values = {"p_board": "young", "p_owner": "o", "p_ttl": 60.0}
        finishing = {
            **values,
            "p_id": claim.job.id,
            "p_epoch": claim.epoch,
            "p_state": "DONE",
            "p_reason": None,
            "p_channel": "c",
        }
        # Then the claim, alone or after a completion, reads the claim index in its
        # order (stopping at the first row), never the key index (every job of the board)
        for statement, params in ((sql.claim, values), (sql.finish_claim, finishing)):
            plan = _plan(postgres_url, statement.sql, statement.params(**params))
            assert "ix_steadyflow_jobs_claim" in plan, plan
            assert "ux_steadyflow_jobs_key" not in plan, plan
            assert "Sort Key: steadyflow_jobs" not in plan, plan


def test_a_postgresql_board_made_at_j0001_is_upgraded_and_keeps_its_keys(
    postgres_url: str,
) -> None:
    import psycopg
    from alembic import command
    from sqlalchemy import create_engine

    from steadyflow.jobs import sql as board_module
    from steadyflow.jobs._sql_schema import VERSION_TABLE
    from steadyflow.persistence.sql import _migrate

    # Given a board's table as the first release made it, holding a keyed job
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    config = _migrate._config(board_module._MIGRATIONS)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "j0001")
    engine.dispose()
    old_id = "a" * 32
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(
            "INSERT INTO steadyflow_jobs (id, board, name, flow_id, factory, arguments, store, "
            "priority, job_key, created_at, state, claims, epoch, not_before) VALUES "
            "(%s, 'old', 'keyed', 'f', 'x:y', '{}', '{}', 0, 'k', 0, 'UNCLAIMED', 0, 0, 0)",
            (old_id,),
        )
    # When a board of this release opens it (migrating it to j0002)
    with open_board(postgres_url, name="old") as board:
        # Then the old key still names its job, and keys still make one job each
        assert board.post("keyed", factory=FACTORY, key="k").id == old_id
        again = board.post("other", factory=FACTORY, key="k2")
        assert board.post("other", factory=FACTORY, key="k2").id == again.id
        assert (
            board.post("keyless", factory=FACTORY).id != board.post("keyless", factory=FACTORY).id
        )
        assert len(list(board.iter_jobs())) == 4
    with psycopg.connect(postgres_url, autocommit=True) as db:
        index = db.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ux_steadyflow_jobs_key'"
        ).fetchone()
        version = db.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    assert index is not None
    assert "WHERE (job_key IS NOT NULL)" in index[0]
    assert version == ("j0002",)

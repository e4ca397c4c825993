"""Opening backends: URLs, drivers, unreachable servers, schema versions."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import steadyflow.persistence as persistence
from steadyflow.errors import (
    BackendUnavailableError,
    InvalidURLError,
    MissingDriverError,
    SchemaVersionError,
)
from steadyflow.persistence import (
    DirectoryBackend,
    MemoryBackend,
    open_backend,
)

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_importing_the_package_imports_no_driver() -> None:
    code = (
        "import sys, steadyflow.persistence as p; p.open_backend('memory://').close();"
        "bad = [m for m in ('sqlalchemy', 'alembic', 'psycopg', 'pymysql', 'sqlite3')"
        " if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": SRC})


def test_a_backend_object_is_returned_as_is() -> None:
    with MemoryBackend() as backend:
        assert open_backend(backend) is backend


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://localhost", "unknown backend scheme 'redis'"),
        ("no-scheme-here", "not a backend URL"),
        ("memory://some/path", "takes no path"),
        ("dir://", "expected dir:///absolute/path"),
        ("postgresql+psycopg2://h/db", "unsupported SQL scheme"),
        ("sqlite+aiosqlite:///x.db", "unsupported SQL scheme"),
        ("sqlite://host/x.db", "expected sqlite:///relative.db"),
        ("sqlite:///x.db?mode=ro", "sqlite URLs take no options"),
    ],
)
def test_bad_urls_are_refused_with_the_accepted_forms(url: str, message: str) -> None:
    with pytest.raises(InvalidURLError, match=message) as caught:
        open_backend(url)
    assert isinstance(caught.value, ValueError)


def test_unknown_scheme_message_lists_accepted_schemes() -> None:
    with pytest.raises(InvalidURLError) as caught:
        open_backend("ftp://x")
    assert "memory://" in str(caught.value)
    assert "postgresql://" in str(caught.value)


def test_a_non_string_is_refused() -> None:
    with pytest.raises(InvalidURLError, match="string"):
        open_backend(42)  # type: ignore[arg-type]


def test_from_url_checks_the_class(tmp_path: Path) -> None:
    with DirectoryBackend.from_url(f"dir://{tmp_path}/s") as backend:
        assert isinstance(backend, DirectoryBackend)
    with pytest.raises(InvalidURLError, match="not a DirectoryBackend"):
        DirectoryBackend.from_url("memory://")


def test_relative_dir_urls_resolve_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_backend("dir://relative/store") as backend:
        assert isinstance(backend, DirectoryBackend)
        assert backend.path == tmp_path / "relative" / "store"


def test_in_memory_sqlite_works_and_leases_in_process() -> None:
    with open_backend("sqlite://") as backend:
        assert not backend.is_durable
        assert not backend.leases_across_processes
        book = persistence.LogBook(name="b")
        backend.save_logbook(book)
        assert backend.get_logbook(book.uuid) == book


def _without_sqlalchemy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this process behave as a bare ``pip install steadyflow``."""
    sql = "steadyflow.persistence.sql"
    for name in [m for m in sys.modules if m == sql or m.startswith(sql + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    monkeypatch.setitem(sys.modules, "alembic", None)


def test_sqlite_needs_no_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given neither SQLAlchemy nor Alembic is importable
    _without_sqlalchemy(monkeypatch)
    # When a SQLite file is opened, written, closed and opened again
    url = f"sqlite:///{tmp_path}/state.db"
    book = persistence.LogBook(name="b")
    with open_backend(url) as backend:
        backend.save_logbook(book)
    # Then it works, with the standard library alone
    with open_backend(url) as backend:
        assert isinstance(backend, persistence.SQLiteBackend)
        assert backend.get_logbook(book.uuid) == book


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        ("sqlite+pysqlite://", "sql"),
        ("postgresql://u@127.0.0.1:1/db", "postgres"),
        ("postgres://u@127.0.0.1:1/db", "postgres"),
        ("mysql://u@127.0.0.1:1/db", "mysql"),
        ("mariadb+pymysql://u@127.0.0.1:1/db", "mysql"),
    ],
)
def test_missing_sqlalchemy_names_the_exact_extra(
    monkeypatch: pytest.MonkeyPatch, url: str, extra: str
) -> None:
    _without_sqlalchemy(monkeypatch)
    with pytest.raises(MissingDriverError, match=rf"pip install 'steadyflow\[{extra}\]'") as caught:
        open_backend(url)
    assert isinstance(caught.value, ImportError)
    with pytest.raises(MissingDriverError, match=r"steadyflow\[sql\]"):
        persistence.SQLBackend  # the lazy attribute is what is tested


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("postgresql://u@127.0.0.1:1/db", "psycopg", "postgres"),
        ("mariadb://u@127.0.0.1:1/db", "pymysql", "mysql"),
    ],
)
def test_missing_server_driver_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDriverError, match=rf"pip install 'steadyflow\[{extra}\]'"):
        open_backend(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://steady:s3cr3t-pw@127.0.0.1:1/test",
        "mysql://steady:s3cr3t-pw@127.0.0.1:1/test",
    ],
)
def test_an_unreachable_server_fails_fast_with_a_masked_address(url: str) -> None:
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError) as caught:
        open_backend(url, connect_timeout=2)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "127.0.0.1:1" in message
    assert "s3cr3t" not in message
    assert "***" in message
    assert isinstance(caught.value, ConnectionError)


def test_a_newer_sqlite_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    # Given a database stamped by a future steadyflow
    url = f"sqlite:///{tmp_path}/state.db"
    open_backend(url).close()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE steadyflow_alembic_version SET version_num = '9999'"))
    engine.dispose()
    # When it is opened, then it is refused
    with pytest.raises(SchemaVersionError, match="9999"):
        open_backend(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        stamp = connection.execute(text("SELECT version_num FROM steadyflow_alembic_version"))
        assert stamp.scalar() == "9999"
    engine.dispose()


def test_a_newer_directory_format_is_refused(tmp_path: Path) -> None:
    open_backend(f"dir://{tmp_path}").close()
    (tmp_path / "steadyflow.json").write_text('{"format": 99}')
    with pytest.raises(SchemaVersionError, match="99"):
        open_backend(f"dir://{tmp_path}")


@pytest.mark.postgres
def test_postgres_scheme_variants_open(postgres_url: str) -> None:
    for scheme in ("postgres", "postgresql+psycopg"):
        url = scheme + "://" + postgres_url.split("://", 1)[1]
        with open_backend(url) as backend:
            assert backend.list_logbooks() == []


@pytest.mark.mysql
def test_mariadb_scheme_opens(mysql_url: str) -> None:
    with open_backend("mariadb://" + mysql_url.split("://", 1)[1]) as backend:
        assert backend.list_logbooks() == []

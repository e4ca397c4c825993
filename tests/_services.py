"""Test services (PostgreSQL, MariaDB): URLs from the environment, probed lazily.

Nothing here touches the network at import time. Each probe has a short
timeout; an absent service skips the tests that need it, unless
``STEADYFLOW_REQUIRE_SERVICES=1`` (CI), where it fails them instead. Every
test gets its own namespace (a PostgreSQL schema or a MariaDB database),
dropped afterwards.
"""

from __future__ import annotations

import functools
import os
import uuid
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

POSTGRES_URL_ENV = "STEADYFLOW_TEST_POSTGRES_URL"
MYSQL_URL_ENV = "STEADYFLOW_TEST_MYSQL_URL"
REQUIRE_ENV = "STEADYFLOW_REQUIRE_SERVICES"

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/test"

PROBE_TIMEOUT_S = 2


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (when services are required) with ``reason``."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)")
    pytest.skip(reason)


def postgres_url() -> str:
    return os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)


def mysql_url() -> str:
    return os.environ.get(MYSQL_URL_ENV, DEFAULT_MYSQL_URL)


def _libpq_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


def _pg_connect(url: str) -> object:
    import psycopg

    return psycopg.connect(_libpq_url(url), connect_timeout=PROBE_TIMEOUT_S, autocommit=True)


def _mysql_connect(url: str, database: str | None = None) -> object:
    import pymysql

    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=database if database is not None else (parts.path.lstrip("/") or None),
        connect_timeout=PROBE_TIMEOUT_S,
        autocommit=True,
    )


@functools.cache
def probe(service: str) -> str | None:
    """None when ``service`` answers, else why not (cached per session)."""
    url = postgres_url() if service == "postgres" else mysql_url()
    connect = _pg_connect if service == "postgres" else _mysql_connect
    try:
        connection = connect(url)
    except ImportError as exc:
        return f"{service} driver not installed: {exc}"
    except Exception as exc:
        return f"{service} not reachable at {url}: {exc}"
    connection.close()  # type: ignore[attr-defined]
    return None


def require(service: str) -> None:
    """Skip or fail the current test unless ``service`` answers."""
    reason = probe(service)
    if reason is not None:
        unavailable(reason)


@contextmanager
def postgres_namespace() -> Iterator[str]:
    """A backend URL confined to a fresh PostgreSQL schema, dropped afterwards."""
    require("postgres")
    base = postgres_url()
    schema = f"sf_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_connect(base)
    try:
        admin.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[attr-defined]
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]


@contextmanager
def mysql_namespace() -> Iterator[str]:
    """A backend URL pointing at a fresh MariaDB database, dropped afterwards."""
    require("mysql")
    base = mysql_url()
    database = f"sf_test_{uuid.uuid4().hex[:12]}"
    admin = _mysql_connect(base, database="")
    try:
        with admin.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        parts = urlsplit(base)
        yield urlunsplit(parts._replace(path=f"/{database}"))
    finally:
        with admin.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        admin.close()  # type: ignore[attr-defined]

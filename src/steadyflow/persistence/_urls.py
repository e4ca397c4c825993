"""Turning a backend URL into a backend object, once, at the edge.

URLs are what users type (``backend="sqlite:///state.db"``); everything
inside the library works with objects. Parsing here never imports a driver:
``sqlite://`` URLs open the standard library's sqlite3 backend, and the
SQLAlchemy backend is loaded only when a server URL (or ``sqlite+pysqlite://``)
is opened.
"""

from __future__ import annotations

import importlib
import os
import re
from typing import TYPE_CHECKING, Any, TypeVar

from steadyflow.errors import InvalidURLError, MissingDriverError

if TYPE_CHECKING:
    from steadyflow.persistence.base import Backend

__all__ = [
    "ACCEPTED_URLS",
    "load_sql_backend",
    "mask_url",
    "open_backend",
    "open_url",
    "sqlite_path",
]

ACCEPTED_URLS = (
    "memory://",
    "dir:///absolute/path",
    "dir://relative/path",
    "sqlite:///path.db",
    "sqlite://",
    "postgresql://user:password@host:5432/db",
    "postgresql+psycopg://...",
    "mysql://user:password@host:3306/db",
    "mariadb://...",
    "mysql+pymysql://...",
)
"""Examples of every URL form :func:`open_backend` accepts, for error messages."""

_SQL_SCHEMES = frozenset(
    {
        "sqlite+pysqlite",
        "postgres",
        "postgresql",
        "postgresql+psycopg",
        "mysql",
        "mysql+pymysql",
        "mariadb",
        "mariadb+pymysql",
    }
)
_EXTRA_OF_DATABASE = {
    "sqlite": "sql",
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
}
"""The extra that installs what SQLBackend needs for each database, named in install hints."""

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*\Z")
_PASSWORD = re.compile(r"(//[^/:@]*:)[^/@]*@")

_B = TypeVar("_B", bound="Backend")


def mask_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    return _PASSWORD.sub(r"\1***@", url)


def open_backend(url_or_backend: str | Backend, **options: Any) -> Backend:
    """Open the backend a URL names, or return a Backend object as it is.

    Accepted URLs::

        memory://                     MemoryBackend
        dir:///absolute/path          DirectoryBackend (created if missing)
        dir://relative/path           DirectoryBackend, relative to the current
                                      directory at open time
        sqlite:///path.db             SQLiteBackend on a file (sqlite:////abs/path.db);
                                      the standard library's sqlite3, no extra needed
        sqlite://                     SQLiteBackend on a private in-memory database
        sqlite+pysqlite:///path.db    SQLBackend (SQLAlchemy) on a SQLite file
        postgresql://, postgres://, postgresql+psycopg://     SQLBackend (psycopg 3)
        mysql://, mariadb://, mysql+pymysql://                SQLBackend (PyMySQL)

    Args:
        url_or_backend: a URL, or a :class:`Backend` returned unchanged.
        options: keyword arguments for the backend's constructor
            (e.g. ``serializer=``).

    Raises:
        InvalidURLError: the URL does not parse or its scheme is unknown.
        MissingDriverError: the backend's driver is not installed.
        BackendUnavailableError: the server cannot be reached.
        SchemaVersionError: the store's schema is newer than this code.
    """
    from steadyflow.persistence.base import Backend

    if isinstance(url_or_backend, Backend):
        return url_or_backend
    return open_url(url_or_backend, expect=Backend, **options)  # type: ignore[type-abstract]


def open_url(url: str, *, expect: type[_B], **options: Any) -> _B:
    """Open ``url`` and check the result is an ``expect``; see :func:`open_backend`.

    Raises:
        InvalidURLError: as for :func:`open_backend`, or the URL names a
            backend that is not an ``expect``.
    """
    backend = _open(_scheme_of(url), url, options)
    if not isinstance(backend, expect):
        kind = type(backend).__name__
        backend.close()
        raise InvalidURLError(f"{mask_url(url)!r} opens a {kind}, not a {expect.__name__}")
    return backend


def _scheme_of(url: object) -> str:
    if not isinstance(url, str):
        raise InvalidURLError(f"a backend URL must be a string, not {type(url).__name__}")
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not sep or not _SCHEME.match(scheme):
        raise InvalidURLError(
            f"{mask_url(url)!r} is not a backend URL; expected one of: " + ", ".join(ACCEPTED_URLS)
        )
    return scheme


def _open(scheme: str, url: str, options: dict[str, Any]) -> Backend:
    if scheme == "memory":
        from steadyflow.persistence.memory import MemoryBackend

        if url.partition("://")[2].strip("/"):
            raise InvalidURLError(f"memory:// takes no path or options, got {url!r}")
        return MemoryBackend(**options)
    if scheme == "dir":
        from steadyflow.persistence.file import DirectoryBackend

        path = url.partition("://")[2]
        if not path or "?" in path or "#" in path:
            raise InvalidURLError(f"{url!r}: expected dir:///absolute/path or dir://relative/path")
        return DirectoryBackend(os.path.abspath(path), **options)
    if scheme == "sqlite":
        from steadyflow.persistence.sqlite import SQLiteBackend

        return SQLiteBackend(sqlite_path(url), **options)
    if scheme in _SQL_SCHEMES or scheme.partition("+")[0] in _EXTRA_OF_DATABASE:
        # Unsupported drivers of a known database get the SQL backend's message.
        return _sql_backend(url, options)
    raise InvalidURLError(
        f"unknown backend scheme {scheme!r} in {mask_url(url)!r}; accepted: "
        + ", ".join(ACCEPTED_URLS)
    )


def sqlite_path(url: str) -> str | None:
    """The file a ``sqlite://`` URL names, or None for an in-memory database.

    ``sqlite:///state.db`` is relative to the current directory,
    ``sqlite:////var/lib/state.db`` absolute, ``sqlite://`` and
    ``sqlite:///:memory:`` in memory.

    Raises:
        InvalidURLError: the URL has a host, a query or a fragment.
    """
    rest = url.partition("://")[2]
    if "?" in rest or "#" in rest:
        raise InvalidURLError(
            f"{url!r}: sqlite URLs take no options; pass them as keyword arguments, "
            "or use SQLBackend (sqlite+pysqlite://) for SQLAlchemy's"
        )
    if not rest:
        return None
    if not rest.startswith("/"):
        raise InvalidURLError(
            f"{url!r}: expected sqlite:///relative.db, sqlite:////absolute.db or sqlite://"
        )
    path = rest[1:]
    if not path or path == ":memory:":
        return None
    return path


def load_sql_backend(extra: str = "sql") -> type[Backend]:
    """Import and return :class:`~steadyflow.persistence.sql.SQLBackend`.

    Args:
        extra: the extra named in the install hint (``postgres``, ``mysql``, ``sql``).

    Raises:
        MissingDriverError: SQLAlchemy or Alembic is not installed.
    """
    try:
        module = importlib.import_module("steadyflow.persistence.sql")
    except ImportError as exc:
        missing = exc.name or "sqlalchemy"
        if not missing.startswith(("sqlalchemy", "alembic")):
            raise
        raise MissingDriverError(
            f"the SQL backends need SQLAlchemy and Alembic ({missing} is missing): "
            f"pip install 'steadyflow[{extra}]'"
        ) from exc
    backend_class: type[Backend] = module.SQLBackend
    return backend_class


def _sql_backend(url: str, options: dict[str, Any]) -> Backend:
    database = url.partition("://")[0].lower().partition("+")[0]
    backend_class: Any = load_sql_backend(_EXTRA_OF_DATABASE.get(database, "sql"))
    backend: Backend = backend_class(url=url, **options)
    return backend

"""Where flow state is kept so that a crashed flow resumes: the persistence layer.

Pick a backend by object (``MemoryBackend()``, ``DirectoryBackend(path)``,
``SQLiteBackend(path)``, ``SQLBackend(url=...)``) or by URL with
:func:`open_backend`. Importing this package never imports a database driver,
and stays cheap for a short-lived process: each backend but the memory one is
loaded on first use (:class:`SQLBackend` failing with an install hint when
SQLAlchemy is missing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from steadyflow.persistence._urls import load_sql_backend, open_backend
from steadyflow.persistence.base import Backend, BackendStatistics, Lease
from steadyflow.persistence.memory import MemoryBackend
from steadyflow.persistence.models import (
    AtomDetail,
    AtomKind,
    FlowDetail,
    LogBook,
    RetryAttempt,
    new_uuid,
)
from steadyflow.persistence.serializer import JSONSerializer, Serializer

if TYPE_CHECKING:
    from steadyflow.persistence.file import DirectoryBackend
    from steadyflow.persistence.sql import SQLBackend
    from steadyflow.persistence.sqlite import SQLiteBackend

__all__ = [
    # backends
    "Backend",
    "BackendStatistics",
    "DirectoryBackend",
    "Lease",
    "MemoryBackend",
    "SQLBackend",
    "SQLiteBackend",
    "open_backend",
    # records
    "AtomDetail",
    "AtomKind",
    "FlowDetail",
    "LogBook",
    "RetryAttempt",
    "new_uuid",
    # values
    "JSONSerializer",
    "Serializer",
]


def __getattr__(name: str) -> Any:
    # SQLBackend needs SQLAlchemy (an extra), so it is imported on first access;
    # the others too, so that opening one store never pays for another's imports
    # (sqlite3; pathlib and shutil for directories).
    if name == "SQLBackend":
        return load_sql_backend()
    if name == "SQLiteBackend":
        from steadyflow.persistence.sqlite import SQLiteBackend

        return SQLiteBackend
    if name == "DirectoryBackend":
        from steadyflow.persistence.file import DirectoryBackend

        return DirectoryBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

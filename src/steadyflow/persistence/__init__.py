"""Where flow state is kept so that a crashed flow resumes: the persistence layer.

Pick a backend by object (``MemoryBackend()``, ``DirectoryBackend(path)``,
``SQLiteBackend(path)``, ``SQLBackend(url=...)``) or by URL with
:func:`open_backend`. Importing this package never imports a database driver,
and stays cheap for a short-lived process: each backend but the memory one is
loaded on first use (:class:`SQLBackend` failing with an install hint when
SQLAlchemy is missing).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from steadyflow.persistence._urls import load_sql_backend, open_backend
from steadyflow.persistence.base import Backend, BackendStatistics, Lease
from steadyflow.persistence.serializer import JSONSerializer, Serializer

if TYPE_CHECKING:
    from steadyflow.persistence.file import DirectoryBackend
    from steadyflow.persistence.memory import MemoryBackend
    from steadyflow.persistence.models import (
        AtomDetail,
        AtomKind,
        FlowDetail,
        LogBook,
        RetryAttempt,
        new_uuid,
    )
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


_LAZY = {
    "MemoryBackend": "steadyflow.persistence.memory",
    "DirectoryBackend": "steadyflow.persistence.file",
    "SQLiteBackend": "steadyflow.persistence.sqlite",
    "AtomDetail": "steadyflow.persistence.models",
    "AtomKind": "steadyflow.persistence.models",
    "FlowDetail": "steadyflow.persistence.models",
    "LogBook": "steadyflow.persistence.models",
    "RetryAttempt": "steadyflow.persistence.models",
    "new_uuid": "steadyflow.persistence.models",
}
"""Names loaded on first access, and where from.

Opening a store should pay only for what it uses: a short-lived process that
opens a SQLite file must not import pathlib and shutil (directories) nor
dataclasses and inspect (the records, until a record is read or written).
"""


def __getattr__(name: str) -> Any:
    # SQLBackend needs SQLAlchemy (an extra): an install hint when it is missing.
    if name == "SQLBackend":
        return load_sql_backend()
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

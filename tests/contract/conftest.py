"""The backends the contract suite runs against, and how to poke at each."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from steadyflow.persistence import (
    Backend,
    DirectoryBackend,
    MemoryBackend,
    SQLiteBackend,
    open_backend,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


@dataclass(frozen=True)
class Target:
    """One backend under test: its URL and a way to damage a stored atom."""

    name: str
    url: str
    cross_process: bool
    corrupt_atom: Callable[[Backend, str, str], None]


def _corrupt_memory(backend: Backend, flow_uuid: str, atom: str) -> None:
    assert isinstance(backend, MemoryBackend)
    backend._atoms[flow_uuid][atom]["result"] = "{not json"


def _corrupt_dir(backend: Backend, flow_uuid: str, atom: str) -> None:
    assert isinstance(backend, DirectoryBackend)
    path = backend._flow_file(backend.find_book_of(flow_uuid), flow_uuid)
    path.write_text("{truncated", encoding="utf-8")


def _corrupt_sql(backend: Backend, flow_uuid: str, atom: str) -> None:
    from sqlalchemy import update

    from steadyflow.persistence.sql._schema import ATOMS

    engine = backend.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(
            update(ATOMS)
            .where(ATOMS.c.flow_uuid == flow_uuid, ATOMS.c.name == atom)
            .values(result="{not json")
        )


def _corrupt_sqlite(backend: Backend, flow_uuid: str, atom: str) -> None:
    import sqlite3

    assert isinstance(backend, SQLiteBackend)
    assert backend.path is not None
    with contextlib.closing(sqlite3.connect(backend.path)) as db, db:
        db.execute(
            "UPDATE steadyflow_atoms SET result = '{not json' WHERE flow_uuid = ? AND name = ?",
            (flow_uuid, atom),
        )


TARGETS = [
    "memory",
    "dir",
    "sqlite",
    "sqlite-sqlalchemy",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    name = request.param
    if name == "memory":
        return Target(name, "memory://", False, _corrupt_memory)
    if name == "dir":
        return Target(name, f"dir://{tmp_path}/store", True, _corrupt_dir)
    if name == "sqlite":
        return Target(name, f"sqlite:///{tmp_path}/state.db", True, _corrupt_sqlite)
    if name == "sqlite-sqlalchemy":
        return Target(name, f"sqlite+pysqlite:///{tmp_path}/state.db", True, _corrupt_sql)
    fixture = "postgres_url" if name == "postgresql" else "mysql_url"
    return Target(name, request.getfixturevalue(fixture), True, _corrupt_sql)


@pytest.fixture
def backend(target: Target) -> Iterator[Backend]:
    with open_backend(target.url) as opened:
        yield opened

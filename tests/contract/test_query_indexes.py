"""The indexes flow listings use: created by every SQL store, added to older ones, used."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING

import pytest

from steadyflow.persistence import SQLiteBackend, open_backend
from steadyflow.persistence.sqlite import SCHEMA_STEPS, SCHEMA_VERSION

if TYPE_CHECKING:
    from pathlib import Path

INDEXES = {"ix_steadyflow_flows_created", "ix_steadyflow_flows_state_created"}


def _sqlite_indexes(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'steadyflow_flows'"
        )
        return {row[0] for row in rows}


def _plan(path: Path, sql: str, params: tuple[object, ...]) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return " | ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))


def test_a_schema_2_file_gets_the_indexes_when_opened(tmp_path: Path) -> None:
    # Given a file at schema version 2 (before the listing indexes)
    path = tmp_path / "state.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        for step in SCHEMA_STEPS[:2]:
            for statement in step:
                db.execute(statement)
        db.execute("PRAGMA user_version = 2")
    assert not INDEXES & _sqlite_indexes(path)
    # When this code opens it
    SQLiteBackend(path).close()
    # Then it is at the current version, with the indexes
    assert SCHEMA_VERSION == 3
    assert _sqlite_indexes(path) >= INDEXES


def test_sqlite_lists_by_index_without_sorting(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SQLiteBackend(path).close()
    newest = (
        "SELECT uuid FROM steadyflow_flows WHERE created_at <= ? AND "
        "(created_at < ? OR uuid < ?) ORDER BY created_at DESC, uuid DESC LIMIT 20"
    )
    plan = _plan(path, newest, (1.0, 1.0, "x"))
    assert "ix_steadyflow_flows_created" in plan
    assert "TEMP B-TREE" not in plan
    one_state = (
        "SELECT uuid FROM steadyflow_flows WHERE state IN (?) "
        "ORDER BY created_at DESC, uuid DESC LIMIT 20"
    )
    plan = _plan(path, one_state, ("FAILURE",))
    assert "ix_steadyflow_flows_state_created" in plan
    assert "TEMP B-TREE" not in plan


def test_an_alembic_store_at_0002_is_migrated_to_0003(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine

    from steadyflow.persistence.sql import SQLBackend, _migrate

    path = tmp_path / "state.db"
    engine = create_engine(f"sqlite:///{path}")
    config = _migrate._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    engine.dispose()
    assert not INDEXES & _sqlite_indexes(path)
    with SQLBackend(url=f"sqlite:///{path}") as backend:
        assert _migrate.current_revision(backend.engine) == "0003"
    assert _sqlite_indexes(path) >= INDEXES


@pytest.mark.parametrize(
    "database",
    [
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def test_server_databases_get_the_indexes(database: str, request: pytest.FixtureRequest) -> None:
    from sqlalchemy import inspect

    url = request.getfixturevalue("postgres_url" if database == "postgres" else "mysql_url")
    with open_backend(url) as backend:
        engine = backend.engine  # type: ignore[attr-defined]
        found = {index["name"] for index in inspect(engine).get_indexes("steadyflow_flows")}
    assert found >= INDEXES

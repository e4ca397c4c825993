"""Bring a database's schema to head with the migrations shipped in the package.

There is no alembic.ini on disk: the Config is built here and the open
connection is handed to ``migrations/env.py``. Checking the current revision
first makes opening an up-to-date store cheap (one SELECT), and lets us
refuse a schema written by a newer steadyflow instead of touching it.

Other schemas that live beside a store's (the SQL job board's) pass their own
migrations directory and version table, so each keeps its own revision.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError

from steadyflow.errors import SchemaVersionError

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["current_revision", "head_revision", "upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")

_RUNNING = threading.Lock()
"""Alembic keeps the running migration in module globals (``alembic.context``):
two threads of one process migrating at once would see each other's."""


def _config(migrations: Path = _MIGRATIONS) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    return config


def head_revision(migrations: Path = _MIGRATIONS) -> str:
    """The revision this code's schema is at."""
    head = ScriptDirectory.from_config(_config(migrations)).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def current_revision(engine: Engine, version_table: str | None = None) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from steadyflow.persistence.sql._schema import VERSION_TABLE

    table = version_table or VERSION_TABLE
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": table})
        return context.get_current_revision()


def upgrade(
    engine: Engine,
    *,
    where: str,
    migrations: Path = _MIGRATIONS,
    version_table: str | None = None,
) -> None:
    """Migrate the database behind ``engine`` to head.

    Two processes opening a fresh database at once may race on creating the
    tables; the loser re-reads the revision and is done if the winner finished.

    Args:
        engine: the backend's engine.
        where: names the database in error messages (password masked).
        migrations: the Alembic script directory (the store's by default).
        version_table: where its revision is kept (the store's by default); the
            directory's ``env.py`` must use the same table.

    Raises:
        SchemaVersionError: the database is at a revision this code lacks
            (written by a newer steadyflow); it is left untouched.
    """
    config = _config(migrations)
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    for attempt in (1, 2):
        current = current_revision(engine, version_table)
        if current == head:
            return
        if current is not None and _unknown(script, current):
            raise SchemaVersionError(
                f"{where} has schema revision {current!r}, newer than this steadyflow's "
                f"{head!r}; upgrade steadyflow (schemas are never downgraded)"
            )
        try:
            with _RUNNING, engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            return
        except DBAPIError:
            if attempt == 2:
                raise


def _unknown(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is None
    except Exception:  # alembic raises several types for an unknown id
        return True

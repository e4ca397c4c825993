"""Alembic environment of the job board: run on the connection the board hands over.

There is no alembic.ini: :mod:`steadyflow.persistence.sql._migrate` builds the
Config in code and puts an open connection in ``config.attributes``.
"""

from __future__ import annotations

from alembic import context

from steadyflow.jobs._sql_schema import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()

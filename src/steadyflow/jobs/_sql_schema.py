"""The SQL job board's table (SQLAlchemy Core), at the head migration.

``_sql_migrations/versions`` creates it and must agree with it. Times are
seconds since the Unix epoch on the database server's clock, in double
precision (MySQL's FLOAT is single precision); documents are JSON text
(LONGTEXT on MySQL, whose TEXT stops at 64 KiB).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql

from steadyflow.jobs._sqlrows import JOBS_TABLE

__all__ = ["JOBS", "VERSION_TABLE"]

VERSION_TABLE = "steadyflow_jobs_alembic_version"
"""Alembic's bookkeeping for the board's schema, apart from a store's in the same database."""

JSONText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

METADATA = MetaData()

JOBS = Table(
    JOBS_TABLE,
    METADATA,
    # Posting order: breaks priority ties by age, never reused.
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("board", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("flow_id", String(64), nullable=False),
    Column("factory", String(255), nullable=True),
    Column("arguments", JSONText, nullable=False),
    Column("store", JSONText, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("job_key", String(255), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("claims", Integer, nullable=False),
    Column("owner", String(255), nullable=True),
    Column("expires_at", Double, nullable=True),
    Column("epoch", BigInteger, nullable=False),
    Column("not_before", Double, nullable=False),
    Column("revoke_reason", Text, nullable=True),
)

KEY_INDEX = Index(
    f"ux_{JOBS_TABLE}_key",
    JOBS.c.board,
    JOBS.c.job_key,
    unique=True,
    postgresql_where=JOBS.c.job_key.is_not(None),
)
"""Idempotent posts: one job per key and board, enforced by the database (NULL keys
never collide), so racing posters cannot make two. On PostgreSQL it indexes keyed
jobs only (migration j0002); on MariaDB it is the full unique index of j0001."""

CLAIM_INDEX = Index(
    f"ix_{JOBS_TABLE}_claim", JOBS.c.board, JOBS.c.state, JOBS.c.priority.desc(), JOBS.c.seq
)
"""Serves the claim query (claimable rows of one board, best first) and listing by state."""

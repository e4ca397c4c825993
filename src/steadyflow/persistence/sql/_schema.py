"""The tables the SQL backend reads and writes (SQLAlchemy Core).

This describes the schema at the *head* migration; the migrations in
``migrations/versions`` are what create it and must agree with it. Values are
serialized text (LONGTEXT on MySQL, whose TEXT stops at 64 KiB); timestamps
are double precision because MySQL's FLOAT is single precision.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql

__all__ = ["ATOMS", "FLOWS", "LEASES", "LOGBOOKS", "METADATA", "VERSION_TABLE"]

VERSION_TABLE = "steadyflow_alembic_version"
"""Alembic's bookkeeping table; its own name so it never meets an app's."""

JSONText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

METADATA = MetaData()

LOGBOOKS = Table(
    "steadyflow_logbooks",
    METADATA,
    Column("uuid", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("meta", JSONText, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

FLOWS = Table(
    "steadyflow_flows",
    METADATA,
    Column("uuid", String(64), primary_key=True),
    Column(
        "book_uuid",
        String(64),
        ForeignKey("steadyflow_logbooks.uuid", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("name", String(255), nullable=False),
    Column("state", String(32), nullable=False),
    Column("meta", JSONText, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

# Listing newest first (keyset pages), by state too: see migration 0003.
Index("ix_steadyflow_flows_created", FLOWS.c.created_at, FLOWS.c.uuid)
Index("ix_steadyflow_flows_state_created", FLOWS.c.state, FLOWS.c.created_at, FLOWS.c.uuid)

ATOMS = Table(
    "steadyflow_atoms",
    METADATA,
    Column(
        "flow_uuid",
        String(64),
        ForeignKey("steadyflow_flows.uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(255), primary_key=True),
    Column("uuid", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(32), nullable=False),
    Column("intention", String(16), nullable=False),
    Column("atom_version", String(64), nullable=False),
    Column("result", JSONText, nullable=False),
    Column("failure", JSONText, nullable=True),
    Column("revert_result", JSONText, nullable=False),
    Column("revert_failure", JSONText, nullable=True),
    Column("history", JSONText, nullable=False),
    Column("meta", JSONText, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

LEASES = Table(
    "steadyflow_leases",
    METADATA,
    Column("flow_uuid", String(64), primary_key=True),
    # NULL once released; the row itself is never deleted, so epochs only grow.
    Column("owner", String(64), nullable=True),
    Column("epoch", BigInteger, nullable=False),
    # Seconds since the epoch on the database server's clock; 0 once released.
    Column("expires_at", Double, nullable=False),
)
"""One row per flow ever leased; deliberately no foreign key to the flows table.

A lease may be taken before its flow is stored, and must outlive the flow's
deletion (a recreated flow of the same uuid continues the epoch sequence).
"""

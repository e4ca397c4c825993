"""Create logbooks, flows and atoms.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copy of the column types at this revision: never import the live schema here.
_JSON = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "steadyflow_logbooks",
        sa.Column("uuid", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("meta", _JSON, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "steadyflow_flows",
        sa.Column("uuid", sa.String(64), primary_key=True),
        sa.Column(
            "book_uuid",
            sa.String(64),
            sa.ForeignKey("steadyflow_logbooks.uuid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("meta", _JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("ix_steadyflow_flows_book_uuid", "steadyflow_flows", ["book_uuid"])
    op.create_table(
        "steadyflow_atoms",
        sa.Column(
            "flow_uuid",
            sa.String(64),
            sa.ForeignKey("steadyflow_flows.uuid", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("uuid", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("intention", sa.String(16), nullable=False),
        sa.Column("atom_version", sa.String(64), nullable=False),
        sa.Column("result", _JSON, nullable=False),
        sa.Column("failure", _JSON, nullable=True),
        sa.Column("revert_result", _JSON, nullable=False),
        sa.Column("revert_failure", _JSON, nullable=True),
        sa.Column("history", _JSON, nullable=False),
        sa.Column("meta", _JSON, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("steadyflow_atoms")
    op.drop_table("steadyflow_flows")
    op.drop_table("steadyflow_logbooks")

"""Create the jobs table, its claim index and the per-board key constraint.

Revision ID: j0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "j0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copy of the column types at this revision: never import the live schema here.
_JSON = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "steadyflow_jobs",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("board", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("flow_id", sa.String(64), nullable=False),
        sa.Column("factory", sa.String(255), nullable=True),
        sa.Column("arguments", _JSON, nullable=False),
        sa.Column("store", _JSON, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("job_key", sa.String(255), nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("claims", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("expires_at", sa.Double, nullable=True),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("not_before", sa.Double, nullable=False),
        sa.Column("revoke_reason", sa.Text, nullable=True),
        sa.UniqueConstraint("board", "job_key", name="ux_steadyflow_jobs_key"),
    )
    op.create_index(
        "ix_steadyflow_jobs_claim",
        "steadyflow_jobs",
        ["board", "state", sa.text("priority DESC"), "seq"],
    )


def downgrade() -> None:
    op.drop_table("steadyflow_jobs")

"""PostgreSQL: the per-board key constraint becomes a unique index over keyed jobs only.

Most jobs carry no key. As a full (board, job_key) constraint, every post wrote an
index entry for nothing, and the planner, without statistics on a young table,
chose that index to find a board's claimable jobs: a scan of every job the board
ever had, finished ones included. The partial index cannot serve such a scan (its
predicate is not implied), so claims go through the claim index. MariaDB has no
partial indexes (and its unique indexes let NULLs repeat already): unchanged.

Revision ID: j0002
Revises: j0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "j0002"
down_revision: str | None = "j0001"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "steadyflow_jobs"
_KEY = "ux_steadyflow_jobs_key"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_constraint(_KEY, _TABLE, type_="unique")
    op.create_index(
        _KEY,
        _TABLE,
        ["board", "job_key"],
        unique=True,
        postgresql_where=sa.text("job_key IS NOT NULL"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(_KEY, _TABLE)
    op.create_unique_constraint(_KEY, _TABLE, ["board", "job_key"])

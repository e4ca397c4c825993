"""Index the flows table for listing newest first, by state too.

What ``steadyflow flows list`` and the dashboard read: a page of flows
ordered by ``(created_at, uuid)`` descending, optionally of some states. With
these indexes a page is an index range scan whatever its depth (keyset
paging), instead of a sort of the whole table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_steadyflow_flows_created", "steadyflow_flows", ["created_at", "uuid"])
    op.create_index(
        "ix_steadyflow_flows_state_created", "steadyflow_flows", ["state", "created_at", "uuid"]
    )


def downgrade() -> None:
    op.drop_index("ix_steadyflow_flows_state_created", table_name="steadyflow_flows")
    op.drop_index("ix_steadyflow_flows_created", table_name="steadyflow_flows")

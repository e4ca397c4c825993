"""What the SQL boards share: the jobs table's columns and how a row becomes a Job.

Kept free of SQLAlchemy so that the standard library's SQLite board
(:mod:`steadyflow.jobs.sqlite`) imports nothing else.

One table holds every board's jobs (``board`` column) and nothing else about
them: the claim is the row's own ``state``/``owner``/``expires_at``/``epoch``,
so there is no second table (of workers, of claims) that could drift out of
step with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from steadyflow.jobs.base import Job, JobState

__all__ = ["COLUMNS", "JOBS_TABLE", "channel_name", "job_from_row", "job_to_row", "revoked_state"]

JOBS_TABLE = "steadyflow_jobs"
"""The table of every board's jobs; its own name, so it can sit beside a store's tables."""

COLUMNS = (
    "seq",
    "id",
    "board",
    "name",
    "flow_id",
    "factory",
    "arguments",
    "store",
    "priority",
    "job_key",
    "created_at",
    "state",
    "reason",
    "claims",
    "owner",
    "expires_at",
    "epoch",
    "not_before",
    "revoke_reason",
)
"""Every column, in table order. ``seq`` (insertion order) breaks priority ties by age."""


def job_to_row(board: str, job: Job) -> dict[str, Any]:
    """The values a new job is inserted with (``seq`` and ``created_at`` come from the database)."""
    return {
        "id": job.id,
        "board": board,
        "name": job.name,
        "flow_id": job.flow_id,
        "factory": job.factory,
        "arguments": json.dumps(dict(job.arguments), allow_nan=False),
        "store": json.dumps(dict(job.store), allow_nan=False),
        "priority": job.priority,
        "job_key": job.key,
        "state": JobState.UNCLAIMED.value,
        "reason": None,
        "claims": 0,
        "owner": None,
        "expires_at": None,
        "epoch": 0,
        "not_before": 0.0,
        "revoke_reason": None,
    }


def job_from_row(row: Mapping[Any, Any]) -> Job:
    """The Job a stored row describes."""
    expires_at = row["expires_at"]
    return Job(
        id=row["id"],
        name=row["name"],
        flow_id=row["flow_id"],
        factory=row["factory"],
        arguments=json.loads(row["arguments"]),
        store=json.loads(row["store"]),
        priority=int(row["priority"]),
        key=row["job_key"],
        created_at=float(row["created_at"]),
        state=JobState(row["state"]),
        reason=row["reason"],
        claims=int(row["claims"]),
        owner=row["owner"],
        expires_at=None if expires_at is None else float(expires_at),
        epoch=int(row["epoch"]),
        not_before=float(row["not_before"]),
        revoke_reason=row["revoke_reason"],
    )


def channel_name(board: str) -> str:
    """A PostgreSQL LISTEN channel for ``board`` (identifiers stop at 63 bytes; names may not)."""
    return "steadyflow_jobs_" + hashlib.sha256(board.encode()).hexdigest()[:24]


def revoked_state(state: JobState, claims: int) -> tuple[JobState, bool]:
    """Where a revoke request moves a job in ``state``, and whether it is trashed now.

    Never-claimed jobs are trashed at once (nothing ran to revert); a DONE
    job becomes claimable so that a conductor reverts its flow; claimed and
    abandoned-after-running jobs keep their state with the request stored on
    them (their owner, or the next conductor, reverts the flow).
    """
    if state is JobState.UNCLAIMED and claims == 0:
        return JobState.TRASHED, True
    if state is JobState.DONE:
        return JobState.UNCLAIMED, False
    return state, False

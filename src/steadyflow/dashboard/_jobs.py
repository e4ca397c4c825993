"""The jobs page's view of a job board: whatever offers ``iter_jobs(state=...)``.

Boards live in :mod:`steadyflow.jobs`; the dashboard needs only this much of
one, so any board (or a test double) plugs in without the dashboard
knowing its class.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["JOB_LIMIT", "JobRow", "JobSource", "can_repost", "job_rows", "repost"]

JOB_LIMIT = 500
"""The most jobs one page lists."""


@runtime_checkable
class JobSource(Protocol):
    """A board as the jobs page reads it."""

    def iter_jobs(self, state: str | None = None) -> Iterable[Any]:
        """The board's jobs, optionally only those in ``state``."""
        ...


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job as the page shows it (every field as the board gave it)."""

    id: str
    name: str
    flow_id: str | None
    state: str
    owner: str | None
    expires_at: float | None
    epoch: int | None
    claims: int | None
    reason: str | None


def _text(value: object) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def job_rows(board: JobSource, state: str | None) -> tuple[list[JobRow], bool]:
    """Up to :data:`JOB_LIMIT` jobs of ``board`` (in ``state``), and whether more exist."""
    rows: list[JobRow] = []
    for job in board.iter_jobs(state=state or None):
        if len(rows) == JOB_LIMIT:
            return rows, True
        expires = getattr(job, "expires_at", None)
        epoch = getattr(job, "epoch", None)
        claims = getattr(job, "claims", None)
        rows.append(
            JobRow(
                id=str(job.id),
                name=str(getattr(job, "name", "")),
                flow_id=_text(getattr(job, "flow_id", None)),
                state=_text(getattr(job, "state", None)) or "",
                owner=_text(getattr(job, "owner", None)),
                expires_at=float(expires) if isinstance(expires, int | float) else None,
                epoch=epoch if isinstance(epoch, int) else None,
                claims=claims if isinstance(claims, int) else None,
                reason=_text(getattr(job, "reason", None)),
            )
        )
    return rows, False


def can_repost(board: object) -> bool:
    """Whether ``board`` offers what re-posting needs: ``get(job_id)`` and ``post(...)``."""
    return callable(getattr(board, "get", None)) and callable(getattr(board, "post", None))


def repost(board: Any, job_id: str) -> Any:
    """Post trashed job ``job_id`` again, as it was posted; the new job.

    The new job runs the same flow detail (same ``flow_id``), so a conductor
    that claims it resumes the flow where it stopped. No idempotency key is
    passed: the trashed job's own key would return the trashed job itself.

    Raises:
        LookupError: no such job (a board's JobNotFoundError is one).
        ValueError: the job is not trashed.
    """
    job = board.get(job_id)
    state = _text(getattr(job, "state", None))
    if state != "TRASHED":
        raise ValueError(f"only a trashed job is re-posted; job {job_id} is {state}")
    return board.post(
        job.name,
        factory=job.factory,
        args=list(job.args),
        kwargs=dict(job.kwargs),
        flow_id=job.flow_id,
        store=dict(job.store),
        priority=job.priority,
    )

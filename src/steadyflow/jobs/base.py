"""Jobs and job boards: a piece of work posted once and run by exactly one conductor at a time.

A :class:`Job` names a flow to run: a factory (``"module:function"`` with JSON
arguments) that builds it, or a stored flow detail to resume, plus the store
it starts from. Jobs live on a :class:`JobBoard`. A conductor *claims* a job
for a ttl and renews the claim while it runs the flow; a conductor that dies
stops renewing and the claim expires, so another conductor claims the job and
resumes the flow from the store.

The claim's :attr:`Claim.epoch` is the fencing token of the whole chain: it
grows on every claim of a job, and the conductor takes the flow's lease with
exactly that epoch (``Backend.acquire_lease(..., epoch=claim.epoch)``), so the
flow's store refuses every write of a conductor whose claim was taken over.
One token, end to end: a zombie conductor can neither finish the job on the
board (its ``complete()`` is refused) nor write the flow.

Every board keeps its own clock out of the picture: expiries are measured on
the service's clock (the database's, Redis's ``TIME``, ...), never on the
caller's, so conductors on machines whose clocks disagree still agree on who
holds a job.

Backends implement the underscored primitives; the public methods validate
their arguments and give every board the same behaviour.
"""

from __future__ import annotations

import abc
import enum
import json
import math
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Self

from steadyflow.errors import ConflictError, NotFoundError

__all__ = [
    "Claim",
    "ClaimLostError",
    "Job",
    "JobBoard",
    "JobNotFoundError",
    "JobRunningError",
    "JobState",
]

#: Largest store or arguments document a job may carry, serialised as JSON.
MAX_DOCUMENT_BYTES = 1 << 20


class JobNotFoundError(NotFoundError):
    """No job with that id is on the board (never posted, or deleted)."""


class ClaimLostError(ConflictError):
    """The claim is no longer this owner's: it expired and someone claimed the job since,
    or the job was completed, trashed or revoked meanwhile.

    A conductor that sees it must stop working on the job at once: whatever it
    does next is refused by the flow's store anyway (the new claim's epoch fences it).
    """

    def __init__(self, message: str, *, job_id: str, epoch: int) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.epoch = epoch


class JobRunningError(ConflictError):
    """An operator's :meth:`JobBoard.trash` refused: the job's claim is live, its flow runs.

    Trashing it would leave the running flow half done with nobody to finish
    or undo it; revoke the job instead (its owner reverts the flow, then trashes it).
    """

    def __init__(self, message: str, *, job_id: str, owner: str | None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.owner = owner


class JobState(enum.StrEnum):
    """Where a job is in its life.

    ``UNCLAIMED`` jobs wait for a conductor (possibly not before
    :attr:`Job.not_before`); a ``CLAIMED`` job is being run by its owner until
    the claim expires; ``DONE`` and ``TRASHED`` are final (trashed is the dead
    letter state: the reason says why).
    """

    UNCLAIMED = "UNCLAIMED"
    CLAIMED = "CLAIMED"
    DONE = "DONE"
    TRASHED = "TRASHED"


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of one job as the board stored it when it was read.

    Attributes:
        id: the board's id for the job (random).
        name: what the job is, for people (``"boot-vm"``).
        flow_id: the flow detail the job runs; fixed when the job is posted, so
            every conductor that claims it resumes the same flow.
        factory: ``"module:function"`` that builds the flow, or None when the
            job resumes a flow detail already stored with its factory.
        arguments: ``{"args": [...], "kwargs": {...}}`` for the factory (JSON).
        store: the values the flow starts with (JSON).
        priority: larger runs first; equal priorities run oldest first.
        key: the idempotency key it was posted with, if any.
        created_at: when it was posted (seconds since the epoch, service clock).
        state: see :class:`JobState`.
        reason: why it was trashed (or the last failure, for a trashed poison job).
        claims: how many times it was claimed (a poison job's count keeps growing).
        owner: who holds the claim while ``CLAIMED`` (a conductor's id), else None.
        expires_at: when the current claim runs out (service clock), else None.
        epoch: the epoch of the latest claim (0 before the first one).
        not_before: an abandoned job is not claimed again before this time.
        revoke_reason: set when someone asked to revoke the job: its flow is
            reverted (by its owner, or by the next conductor to claim it) and
            the job ends ``TRASHED`` with this reason.
    """

    id: str
    name: str
    flow_id: str
    factory: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    store: Mapping[str, Any] = field(default_factory=dict)
    priority: int = 0
    key: str | None = None
    created_at: float = 0.0
    state: JobState = JobState.UNCLAIMED
    reason: str | None = None
    claims: int = 0
    owner: str | None = None
    expires_at: float | None = None
    epoch: int = 0
    not_before: float = 0.0
    revoke_reason: str | None = None

    @property
    def args(self) -> list[Any]:
        """The factory's positional arguments."""
        return list(self.arguments.get("args", ()))

    @property
    def kwargs(self) -> dict[str, Any]:
        """The factory's keyword arguments."""
        return dict(self.arguments.get("kwargs", {}))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what boards store and the CLI prints)."""
        return {
            "id": self.id,
            "name": self.name,
            "flow_id": self.flow_id,
            "factory": self.factory,
            "arguments": dict(self.arguments),
            "store": dict(self.store),
            "priority": self.priority,
            "key": self.key,
            "created_at": self.created_at,
            "state": self.state.value,
            "reason": self.reason,
            "claims": self.claims,
            "owner": self.owner,
            "expires_at": self.expires_at,
            "epoch": self.epoch,
            "not_before": self.not_before,
            "revoke_reason": self.revoke_reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """The inverse of :meth:`to_dict`."""
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            flow_id=str(data["flow_id"]),
            factory=data.get("factory"),
            arguments=dict(data.get("arguments") or {}),
            store=dict(data.get("store") or {}),
            priority=int(data.get("priority", 0)),
            key=data.get("key"),
            created_at=float(data.get("created_at", 0.0)),
            state=JobState(data.get("state", JobState.UNCLAIMED)),
            reason=data.get("reason"),
            claims=int(data.get("claims", 0)),
            owner=data.get("owner"),
            expires_at=None if data.get("expires_at") is None else float(data["expires_at"]),
            epoch=int(data.get("epoch", 0)),
            not_before=float(data.get("not_before", 0.0)),
            revoke_reason=data.get("revoke_reason"),
        )


class Claim:
    """One owner's hold on one job, until :attr:`expires_at` unless renewed.

    Returned by :meth:`JobBoard.claim`. Every method is refused with
    :class:`ClaimLostError` once the claim is no longer the job's current one;
    after :meth:`complete`, :meth:`abandon` or :meth:`trash` the claim is spent.

    Attributes:
        job: the job as it was when claimed (``state`` CLAIMED, this owner and epoch).
        owner: the claimant's id.
        epoch: the fencing token: the flow's lease is taken with exactly this epoch.
        ttl: seconds each renewal extends the claim by.
        expires_at: when the claim runs out unless renewed (service clock).
        revoke_reason: set (by :meth:`renew`) once someone asked to revoke the job.
    """

    __slots__ = (
        "_asked_ttl",
        "_board",
        "_spent",
        "epoch",
        "expires_at",
        "job",
        "owner",
        "revoke_reason",
        "ttl",
    )

    def __init__(
        self, board: JobBoard, job: Job, owner: str, epoch: int, ttl: float, expires_at: float
    ) -> None:
        self._board = board
        self.job = job
        self.owner = owner
        self.epoch = epoch
        self.ttl = ttl
        self.expires_at = expires_at
        self.revoke_reason: str | None = job.revoke_reason
        self._spent = False
        # The ttl the claimer asked for; a board may grant a little more (etcd: whole
        # seconds), and a claim that follows this one asks for the same again.
        self._asked_ttl = ttl

    @property
    def job_id(self) -> str:
        return self.job.id

    @property
    def board(self) -> JobBoard:
        return self._board

    @property
    def spent(self) -> bool:
        """True once the claim was completed, abandoned or trashed through this object."""
        return self._spent

    def renew(self) -> None:
        """Extend the claim by its ttl from now (service clock); learn of revoke requests.

        Raises:
            ClaimLostError: the job was claimed by someone else, finished or trashed.
        """
        self._check_live()
        self.expires_at, self.revoke_reason = self._board._renew(self)

    def complete(self) -> None:
        """Mark the job DONE: its flow finished (or was cleanly reverted).

        A revoke request stored on the job since the last renewal is never lost:
        the job is then left UNCLAIMED with its :attr:`Job.revoke_reason`, as
        revoking a DONE job leaves it, so that the next conductor reverts its
        flow; :attr:`revoke_reason` is set to the request found (check it after
        completing to tell the two outcomes apart).

        Raises:
            ClaimLostError: the claim was taken over meanwhile; the job is not touched.
        """
        self._check_live()
        found = self._board._finish(self, JobState.DONE, None)
        if found is not None:
            self.revoke_reason = found
        self._spent = True

    def complete_and_claim(self) -> Claim | None:
        """:meth:`complete` this job, then claim the board's next one for the same owner and ttl.

        A conductor that finishes a job and has room for another asks for it in
        the same step: PostgreSQL, SQLite, Redis and the memory board do both in
        one atomic operation (one round trip, one commit), so a busy conductor
        pays for the completion alone; other boards complete, then claim. The
        completion keeps every promise of :meth:`complete` (a revoke request
        found is set on :attr:`revoke_reason` and left for the next claimer),
        and the claim every promise of :meth:`JobBoard.claim` (never waiting).

        Returns:
            The claim of the next job, or None when nothing was claimable.

        Raises:
            ClaimLostError: this claim was taken over meanwhile: neither the job
                nor the board was touched.
        """
        self._check_live()
        found, following = self._board._finish_and_claim(self)
        if found is not None:
            self.revoke_reason = found
        self._spent = True
        if following is not None:
            following._asked_ttl = self._asked_ttl
        return following

    def abandon(self, delay: float = 0.0) -> None:
        """Hand the job back unclaimed, claimable again ``delay`` seconds from now.

        Raises:
            ClaimLostError: the claim was taken over meanwhile.
            ValueError: ``delay`` is negative or not a number.
        """
        check_seconds("delay", delay, allow_zero=True)
        self._check_live()
        self._board._abandon(self, float(delay))
        self._spent = True

    def trash(self, reason: str) -> None:
        """Move the job aside for good (the dead letter state), saying why.

        Raises:
            ClaimLostError: the claim was taken over meanwhile.
            ValueError: ``reason`` is empty.
        """
        _check_reason(reason)
        self._check_live()
        self._board._finish(self, JobState.TRASHED, reason)
        self._spent = True

    def _check_live(self) -> None:
        if self._spent:
            raise ClaimLostError(
                f"claim of job {self.job.id} (epoch {self.epoch}) was already given up",
                job_id=self.job.id,
                epoch=self.epoch,
            )

    def __repr__(self) -> str:
        return (
            f"Claim(job={self.job.id!r}, owner={self.owner!r}, epoch={self.epoch}, "
            f"expires_at={self.expires_at:.3f})"
        )


class JobBoard(abc.ABC):
    """Where jobs are posted and claimed; one board per ``name`` on a service.

    Guarantees every backend keeps (the contract suite checks them):

    * ``post(..., key=K)`` twice makes one job: the second call returns the first job.
    * A job is claimed by at most one owner at a time; a claim runs out at its
      expiry on the service's clock, and only then can another owner claim it.
    * Every claim of a job has a larger epoch than the one before.
    * ``renew``/``complete``/``abandon``/``trash`` of a claim that was taken
      over are refused (:class:`ClaimLostError`) and change nothing, in one
      atomic step on the service (never check-then-write in two requests).
    * A revoke request is never lost: ``complete`` of a job revoked since its
      owner's last renewal leaves it UNCLAIMED with the request, in the same
      atomic step, so that the next claimer reverts its flow.
    * An owner never re-claims a job it holds.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a board name must be a non-empty string, not {name!r}")
        self.name = name
        self._closed = False

    # -- posting -------------------------------------------------------------------------

    def post(
        self,
        name: str,
        *,
        factory: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        flow_id: str | None = None,
        store: Mapping[str, Any] | None = None,
        priority: int = 0,
        key: str | None = None,
    ) -> Job:
        """Post a job; with ``key``, posting again returns the job already posted.

        Give ``factory`` (``"module:function"``, with ``args``/``kwargs``) to run a
        new flow, or ``flow_id`` alone to resume a flow detail stored with its factory.

        Raises:
            ValueError: neither ``factory`` nor ``flow_id``; a malformed factory;
                arguments or store that are not JSON or exceed 1 MiB; a bad priority.
        """
        self._check_open()
        if not isinstance(name, str) or not name:
            raise ValueError(f"a job name must be a non-empty string, not {name!r}")
        if factory is None and flow_id is None:
            raise ValueError("a job needs a factory ('module:function') or a stored flow_id")
        if factory is not None and (
            not isinstance(factory, str) or factory.count(":") != 1 or factory.startswith(":")
        ):
            raise ValueError(f"a job factory must be 'module:function', not {factory!r}")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ValueError(f"a job priority must be an int, not {priority!r}")
        if key is not None and (not isinstance(key, str) or not key):
            raise ValueError(f"a job key must be a non-empty string, not {key!r}")
        arguments = {"args": list(args), "kwargs": dict(kwargs or {})}
        _check_json("arguments", arguments)
        _check_json("store", store or {})
        job = Job(
            id=uuid.uuid4().hex,
            name=name,
            flow_id=flow_id or str(uuid.uuid4()),
            factory=factory,
            arguments=arguments,
            store=dict(store or {}),
            priority=priority,
            key=key,
            created_at=time.time(),
        )
        return self._post(job)

    def get(self, job_id: str) -> Job:
        """The job as stored now.

        Raises:
            JobNotFoundError: no such job on this board.
        """
        self._check_open()
        return self._get(job_id)

    def iter_jobs(self, state: JobState | str | None = None) -> Iterator[Job]:
        """Jobs on the board (only those in ``state`` when given), in claim order."""
        self._check_open()
        wanted = None if state is None else JobState(state)
        return self._iter_jobs(wanted)

    # -- claiming ------------------------------------------------------------------------

    def claim(self, owner: str, ttl: float, *, wait: float | None = None) -> Claim | None:
        """Claim the next claimable job for ``ttl`` seconds, or None when there is none.

        Claimable: ``UNCLAIMED`` and past its ``not_before``, or ``CLAIMED`` by
        someone whose claim expired. Highest priority first, then oldest.
        With ``wait``, blocks up to that many seconds for one to appear, woken
        by the service's own push mechanism where it has one.

        Raises:
            ValueError: empty owner, or a ttl/wait that is not a positive number.
        """
        self._check_open()
        if not isinstance(owner, str) or not owner:
            raise ValueError(f"a claim owner must be a non-empty string, not {owner!r}")
        check_seconds("ttl", ttl, allow_zero=False)
        if wait is not None:
            check_seconds("wait", wait, allow_zero=True)
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            claim = self._try_claim(owner, float(ttl))
            if claim is not None:
                claim._asked_ttl = float(ttl)
                return claim
            if deadline is None:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._wait_for_change(left)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the board changes (a job posted, abandoned, expiring) or ``timeout``.

        Returns True when woken by a change, False on timeout. Spurious
        wake-ups are allowed: callers try to claim and wait again.
        """
        self._check_open()
        if timeout is not None:
            check_seconds("timeout", timeout, allow_zero=True)
        return self._wait_for_change(timeout)

    # -- operator actions ----------------------------------------------------------------

    def revoke(self, job_id: str, reason: str) -> Job:
        """Ask for a job to be undone: its flow reverted, the job trashed with ``reason``.

        An unclaimed job is trashed at once. A claimed one gets the request
        stored on it: its owner sees it at its next renewal and revokes the
        flow; if the owner dies, the next conductor to claim it reverts it.
        A finished (DONE) job can be revoked too: it becomes claimable again
        so that a conductor reverts its flow. A trashed job is left as it is.

        Raises:
            JobNotFoundError: no such job.
            ValueError: empty reason.
        """
        self._check_open()
        _check_reason(reason)
        return self._revoke(job_id, reason)

    def trash(self, job_id: str, reason: str) -> Job:
        """Move a job that nobody runs aside for good (dead letter), saying why.

        An operator's action, for a job that must not run (again): its flow,
        if any of it ran, is left as it is (neither finished nor reverted;
        :meth:`revoke` undoes a flow). Atomic on the service.

        * ``UNCLAIMED`` (never claimed, abandoned, or revoked and waiting for
          its revert): trashed at once.
        * ``CLAIMED`` with a live claim: refused with :class:`JobRunningError`,
          since its flow is running; revoke it instead. A claim that expired
          (its owner died) does not protect it: the job is trashed, and that
          owner's complete/abandon/trash are refused afterwards.
        * ``TRASHED``: left as it is (the first reason is kept) and returned,
          so that trashing twice is harmless.
        * ``DONE``: refused with :class:`JobRunningError`'s parent,
          :class:`~steadyflow.errors.ConflictError`: a finished job is not a
          dead letter (revoke it to undo its flow).

        Returns:
            The job as stored afterwards.

        Raises:
            JobNotFoundError: no such job.
            JobRunningError: the job's claim is live.
            ConflictError: the job is DONE.
            ValueError: empty reason.
        """
        self._check_open()
        _check_reason(reason)
        return self._trash_job(job_id, reason)

    # -- life cycle ----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def suspended(self) -> bool:
        """True while the board lost its service but its claims may still be alive.

        A conductor starts no new atoms while it is True (it cannot renew its
        claims, which may be running out). Boards whose claims do not hang on
        a connection (most) are never suspended; the ZooKeeper board is while
        its session is SUSPENDED.
        """
        return False

    def close(self) -> None:
        """Release the board's connections; idempotent."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"job board {self.name!r} is closed")

    def _lost(self, claim: Claim) -> ClaimLostError:
        """The error for a claim the service refused, saying what became of its job.

        Read after the refusal, outside its transaction: what it reports may
        have moved on since, but never back to the refused claim.
        """
        try:
            job = self._get(claim.job.id)
        except JobNotFoundError:
            return lost(claim, "the job is gone")
        return lost(claim, f"the job is {job.state.value} at epoch {job.epoch}")

    # -- what a backend implements ----------------------------------------------------------

    @abc.abstractmethod
    def _post(self, job: Job) -> Job:
        """Store ``job``; with a key already on the board, return that job instead."""

    @abc.abstractmethod
    def _get(self, job_id: str) -> Job: ...

    @abc.abstractmethod
    def _iter_jobs(self, state: JobState | None) -> Iterator[Job]: ...

    @abc.abstractmethod
    def _try_claim(self, owner: str, ttl: float) -> Claim | None:
        """Atomically claim the best claimable job, not waiting; bump claims and epoch."""

    @abc.abstractmethod
    def _renew(self, claim: Claim) -> tuple[float, str | None]:
        """Extend ``claim`` if still current: return (new expiry, revoke reason).

        Raises ClaimLostError otherwise, in the same atomic step.
        """

    @abc.abstractmethod
    def _finish(self, claim: Claim, state: JobState, reason: str | None) -> str | None:
        """Move the claimed job to DONE or TRASHED if ``claim`` is still current.

        DONE of a job carrying a revoke request makes it UNCLAIMED instead
        (claimable at once, as :meth:`JobBoard.revoke` leaves a DONE job), in
        the same atomic step; the request's reason is returned then, else None.
        """

    def _finish_and_claim(self, claim: Claim) -> tuple[str | None, Claim | None]:
        """Complete ``claim`` (as :meth:`_finish` with DONE), then try to claim for its owner.

        Returns what ``_finish`` returned and the next claim. Backends that can
        do both in one atomic step override this; the claim must happen only
        when the completion did.
        """
        found = self._finish(claim, JobState.DONE, None)
        return found, self._try_claim(claim.owner, claim._asked_ttl)

    @abc.abstractmethod
    def _abandon(self, claim: Claim, delay: float) -> None:
        """Make the job UNCLAIMED (claimable after ``delay``) if ``claim`` is still current."""

    @abc.abstractmethod
    def _revoke(self, job_id: str, reason: str) -> Job: ...

    @abc.abstractmethod
    def _trash_job(self, job_id: str, reason: str) -> Job:
        """Trash an unclaimed job or one whose claim expired, atomically; see :meth:`trash`.

        Raise :func:`running` for a live claim and :func:`finished` for a DONE job.
        """

    @abc.abstractmethod
    def _wait_for_change(self, timeout: float | None) -> bool: ...

    def _close(self) -> None:  # noqa: B027 - optional hook: the memory board holds nothing
        """Release connections."""


def lost(claim: Claim, why: str) -> ClaimLostError:
    """The error a backend raises when ``claim`` is no longer current."""
    return ClaimLostError(
        f"claim of job {claim.job.id} by {claim.owner!r} (epoch {claim.epoch}) is lost: {why}",
        job_id=claim.job.id,
        epoch=claim.epoch,
    )


def running(job_id: str, owner: str | None, board: str) -> JobRunningError:
    """The error a backend raises when an operator's trash meets a live claim."""
    return JobRunningError(
        f"job {job_id} on board {board!r} is claimed by {owner!r} and its claim is live: "
        "it is running; revoke it instead (its owner reverts its flow and trashes it)",
        job_id=job_id,
        owner=owner,
    )


def finished(job_id: str, board: str) -> ConflictError:
    """The error a backend raises when an operator's trash meets a DONE job."""
    return ConflictError(
        f"job {job_id} on board {board!r} is DONE: a finished job is not trashed "
        "(revoke it to undo its flow)"
    )


def claimed(job: Job, owner: str, expires_at: float) -> Job:
    """``job`` as a fresh claim by ``owner`` leaves it (a helper for backends)."""
    return replace(
        job,
        state=JobState.CLAIMED,
        owner=owner,
        expires_at=expires_at,
        claims=job.claims + 1,
        epoch=job.epoch + 1,
    )


def check_seconds(what: str, value: object, *, allow_zero: bool) -> None:
    """Refuse a duration that is not a finite, non-negative (or positive) number of seconds."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{what} must be {kind} number of seconds, not {value!r}")


def _check_reason(reason: object) -> None:
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"a reason must be a non-empty string, not {reason!r}")


def _check_json(what: str, value: object) -> None:
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a job's {what} is not JSON: {exc}") from exc
    size = len(text.encode())
    if size > MAX_DOCUMENT_BYTES:
        raise ValueError(f"a job's {what} is {size} bytes as JSON; the limit is 1 MiB")

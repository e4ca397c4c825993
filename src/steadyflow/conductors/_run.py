"""One claimed job, run to a verdict: what the conductor tells the board about it.

A :class:`JobRun` lives on a thread of its own while its claim is kept
renewed by a :class:`~steadyflow.conductors._keeper.ClaimKeeper`. It rebuilds
the job's flow from its factory, runs it under the claim's epoch (the flow's
lease is taken with exactly that epoch, so a conductor whose claim was taken
over cannot write the flow) and settles the claim once:

========================================  =========================================
what happened                             what the board is told
========================================  =========================================
the flow ended SUCCESS                    ``complete()`` (which the board turns into
                                          a hand-back if a revoke came after the
                                          last renewal: reported as handed back)
a task failed and the flow was reverted   ``complete()`` (a clean revert is an end)
the job was revoked, its flow reverted    ``trash(revoke reason)``
a revert failed (the flow is FAILURE)     ``trash(...)``: nothing else can move it
the store or the lease failed             ``abandon(abandon_delay)``
any other error (a factory that fails)    ``abandon(abandon_delay)``, or ``trash``
                                          with the error on the last allowed claim
claimed more than ``max_claims`` times    ``trash(...)`` with the last failure known
the conductor is stopping                 ``abandon(0)``: handed back at once
the claim was lost                        nothing: the job is someone else's now
========================================  =========================================
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from steadyflow.conductors._keeper import ClaimKeeper
from steadyflow.engine._factory import FactorySpec
from steadyflow.engine.engine import Engine
from steadyflow.errors import (
    BackendUnavailableError,
    ConflictError,
    FlowLockedError,
    NotFoundError,
    PersistenceError,
)
from steadyflow.jobs.base import ClaimLostError
from steadyflow.persistence.leases import process_owner
from steadyflow.states import FlowState

if TYPE_CHECKING:
    from collections.abc import Callable

    from steadyflow.conductors._keeper import BoardCall
    from steadyflow.engine.options import EngineKind
    from steadyflow.jobs.base import Claim
    from steadyflow.persistence.base import Backend

__all__ = ["JobRun", "Outcome", "Settings", "Successor"]

log = logging.getLogger("steadyflow.conductors")

_REASON_LIMIT = 1000
"""Longest trash reason kept (a failure's message can be huge)."""


class Outcome(enum.StrEnum):
    """How a conductor left one claim (see the module docstring's table)."""

    COMPLETED = "completed"
    REVERTED = "reverted"
    """Completed after a clean revert (a task failed, everything was undone)."""
    TRASHED = "trashed"
    ABANDONED = "abandoned"
    HANDED_BACK = "handed-back"
    LOST = "lost"
    """The claim was taken over (or could not be settled): the job is someone else's."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What every job run of one conductor shares."""

    backend: Backend
    engine: EngineKind
    max_claims: int
    abandon_delay: float


Action = Literal["complete", "reverted", "trash", "abandon", "hand-back", "drop"]


class Successor(Protocol):
    """Where a finished job's next claim goes: the conductor, when it has room for one."""

    def wanted(self) -> bool:
        """True while a job completing now should claim the next in the same step."""
        ...

    def take(self, claim: Claim, claimed_at: float) -> None:
        """Run ``claim`` (or hand it back at once if the conductor stopped meanwhile)."""
        ...


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reason: str | None = None


class JobRun:
    """Runs one claimed job on the calling thread (:meth:`run`); other threads may
    :meth:`hand_back`, :meth:`drop` or :meth:`settle_now` it."""

    def __init__(
        self,
        claim: Claim,
        settings: Settings,
        call: BoardCall[None],
        *,
        claimed_at: float,
        successor: Successor | None = None,
    ) -> None:
        self.claim = claim
        self._settings = settings
        self._call = call
        self._successor = successor
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._lost: ClaimLostError | None = None
        self._revoke: str | None = None
        self._handing_back = False
        self._dropped = False
        self._settled = False
        self._requeued: str | None = None
        self.outcome: Outcome | None = None
        self.reason: str | None = None
        self._keeper = ClaimKeeper(
            claim,
            call,
            claimed_at=claimed_at,
            on_lost=self._claim_lost,
            on_revoke=self._revoke_requested,
        )

    @property
    def job_id(self) -> str:
        return self.claim.job_id

    # -- the job's thread ------------------------------------------------------------------

    def run(self) -> Outcome:
        """Work on the job until its verdict, then settle the claim with the board."""
        self._keeper.start()
        try:
            verdict = self._work()
        except Exception as exc:  # a bug of ours must not leave the claim unsettled
            log.exception("job %s: unexpected error", self.job_id)
            verdict = Verdict("abandon", _describe(exc))
        finally:
            self._keeper.stop()
        if verdict.action in ("complete", "reverted") and self._revoke is not None:
            # The revoke came after the flow ended: the next claim (a larger epoch, which
            # the flow's lease needs) reverts it, as it does for a revoked DONE job.
            verdict = Verdict("hand-back", f"revoked after its flow ended: {self._revoke}")
        return self._settle(verdict)

    def _work(self) -> Verdict:
        job = self.claim.job
        if job.claims > self._settings.max_claims:
            return Verdict(
                "trash",
                f"claimed {job.claims} times, more than max_claims={self._settings.max_claims}; "
                f"last failure: {stored_failure(self._settings.backend, job.flow_id)}",
            )
        if self._revoke is not None:
            verdict = self._revoked_unstarted(self._revoke)
            if verdict is not None:
                return verdict
        try:
            engine = self._build()
        except Exception as exc:
            return self._failed(exc)
        with self._lock:
            if self._lost is not None or self._handing_back or self._dropped:
                engine.close()
                return Verdict("drop" if self._lost is not None else "hand-back")
            self._engine = engine
            if self._revoke is not None:
                engine.revoke(self._revoke, raise_error=False, requested_by=f"job {job.id}")
        error: Exception | None = None
        try:
            engine.run()
        except Exception as exc:
            error = exc
        finally:
            with self._lock:
                self._engine = None
        try:
            return self._judge(engine, error)
        finally:
            engine.close()

    def _build(self) -> Engine:
        """The engine resuming (or starting) the job's flow under the claim's epoch."""
        job = self.claim.job
        settings = self._settings
        if job.factory is not None:
            spec = FactorySpec.of(job.factory, job.args, job.kwargs)
        else:
            detail = settings.backend.get_flow_detail(job.flow_id)
            spec = FactorySpec.from_meta(detail.meta, job.flow_id)
        return Engine(
            spec.build(),
            store=dict(job.store),
            engine=settings.engine,
            backend=settings.backend,
            flow_id=job.flow_id,
            factory=spec.target,
            factory_args=spec.args,
            factory_kwargs=spec.kwargs,
            lease_ttl=self.claim.ttl,
            lease_epoch=self.claim.epoch,
        )

    def _revoked_unstarted(self, reason: str) -> Verdict | None:
        """The verdict for a revoked job whose flow was never stored; None when it was.

        "Never stored" is asked again under the flow's lease taken with our
        epoch: that fences out a conductor that held the job before (its
        create is refused from now on), so the answer stays true.
        """
        backend = self._settings.backend
        flow_id = self.claim.job.flow_id
        try:
            backend.get_flow_detail(flow_id)
            return None
        except NotFoundError:
            pass
        try:
            lease = backend.acquire_lease(
                flow_id, process_owner(), self.claim.ttl, epoch=self.claim.epoch
            )
        except Exception as exc:
            return Verdict("abandon", _describe(exc))
        try:
            backend.get_flow_detail(flow_id)
        except NotFoundError:
            return Verdict("trash", reason)
        finally:
            backend.release_lease(lease)
        # Created meanwhile by the previous holder: the next claim (a larger epoch) reverts it.
        return Verdict("hand-back")

    def _judge(self, engine: Engine, error: Exception | None) -> Verdict:
        if self._lost is not None:
            return Verdict("drop")
        if self._dropped:
            return Verdict("hand-back")
        if isinstance(error, FlowLockedError):
            # Our epoch is not past the flow's lease epoch (someone ran the flow outside
            # any job): every claim has a larger one, so the next one gets there.
            return Verdict("hand-back", _describe(error))
        if error is not None and _infrastructure(error):
            return Verdict("abandon", _describe(error))
        if error is None:
            state = engine.storage.flow_state
        else:
            try:
                state = self._settings.backend.get_flow_detail(self.claim.job.flow_id).state
            except Exception as exc:
                return Verdict("abandon", _describe(exc))
        return self._verdict_for(state, error)

    def _verdict_for(self, state: FlowState, error: Exception | None) -> Verdict:
        if state is FlowState.SUCCESS:
            return Verdict("complete")  # (or handed back when a revoke came meanwhile: run())
        if state is FlowState.REVERTED:
            if self._revoke is not None:
                return Verdict("trash", self._revoke)
            return Verdict("reverted", None if error is None else _describe(error))
        if state is FlowState.SUSPENDED:
            return Verdict("hand-back")
        if state is FlowState.FAILURE:
            why = "its flow ended FAILURE (a revert failed)"
            detail = _describe(error) if error is not None else None
            if self._revoke is not None:
                why = f"{self._revoke}; {why}"
            return Verdict("trash", f"{why}: {detail}" if detail else why)
        if error is None:
            error = RuntimeError(f"the run ended with its flow {state.value}")
        return self._failed(error)

    def _failed(self, error: Exception) -> Verdict:
        """A failure of the job itself: try again later, or trash it on its last claim."""
        if _infrastructure(error):
            return Verdict("abandon", _describe(error))
        claims = self.claim.job.claims
        limit = self._settings.max_claims
        if claims >= limit:
            return Verdict(
                "trash",
                f"failed on claim {claims} of max_claims={limit}; last failure: {_describe(error)}",
            )
        return Verdict("abandon", _describe(error))

    # -- settling (once, from whichever thread gets there first) ---------------------------

    def _settle(self, verdict: Verdict) -> Outcome:
        with self._lock:
            if self._settled:
                assert self.outcome is not None
                return self.outcome
            self._settled = True
        outcome = self._tell_board(verdict)
        self.outcome, self.reason = outcome, self._requeued or verdict.reason
        log.info(
            "job %s (epoch %d): %s%s",
            self.job_id,
            self.claim.epoch,
            outcome.value,
            f" ({verdict.reason})" if verdict.reason else "",
        )
        return outcome

    def _tell_board(self, verdict: Verdict) -> Outcome:
        claim = self.claim
        action = verdict.action
        try:
            if action == "drop":
                return Outcome.LOST
            if action in ("complete", "reverted"):
                self._complete()
                if claim.revoke_reason is not None:
                    # Revoked after the last renewal: the board left the job claimable
                    # instead of DONE, and the next claim reverts its flow.
                    self._requeued = f"revoked after its flow ended: {claim.revoke_reason}"
                    return Outcome.HANDED_BACK
                return Outcome.COMPLETED if action == "complete" else Outcome.REVERTED
            if action == "trash":
                reason = (verdict.reason or "trashed")[:_REASON_LIMIT]
                self._report(lambda: claim.trash(reason))
                return Outcome.TRASHED
            delay = 0.0 if action == "hand-back" else self._settings.abandon_delay
            self._report(lambda: claim.abandon(delay))
            return Outcome.HANDED_BACK if action == "hand-back" else Outcome.ABANDONED
        except ClaimLostError:
            return Outcome.LOST
        except Exception:
            # The board is unreachable: the claim runs out and another conductor takes it.
            log.exception("job %s: the board could not be told %s", claim.job_id, action)
            return Outcome.LOST

    def _complete(self) -> None:
        """Complete the job; when the conductor has room, claim its next job in the same step.

        The next claim goes to the conductor even if this job's outcome turns
        out to be a hand-back (a revoke found at completion): the two jobs are
        unrelated. A completion retried after an outage may have claimed a job
        whose answer was lost: like any claim whose answer was lost, it runs
        out after its ttl and another conductor takes the job.
        """
        claim, successor = self.claim, self._successor
        following: list[tuple[Claim, float]] = []

        def complete() -> None:
            if successor is None or not successor.wanted():
                claim.complete()
                return
            claimed_at = time.monotonic()
            taken = claim.complete_and_claim()
            if taken is not None:
                following.append((taken, claimed_at))

        self._report(complete)
        if following and successor is not None:
            successor.take(*following[0])

    def _report(self, operation: Callable[[], None]) -> None:
        """Tell the board how the job ended, riding out a brief outage of its service.

        The claim stays ours until it expires, so a report that failed because
        the service blinked (a restart, an election, a dropped connection) is
        tried again for up to half the claim's ttl: giving up at once would leave
        a finished job claimed until the claim runs out and another conductor
        claims it only to find its flow done. A report whose answer was lost
        but which took effect is refused on retry (ClaimLostError): the job is
        settled either way.
        """
        deadline = time.monotonic() + self.claim.ttl / 2
        pause = 0.05
        while True:
            try:
                self._call(operation)
                return
            except BackendUnavailableError:
                if time.monotonic() + pause >= deadline:
                    raise
                log.warning("job %s: the board is unavailable; telling it again", self.job_id)
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    # -- other threads ---------------------------------------------------------------------

    def _claim_lost(self, error: ClaimLostError) -> None:
        """The keeper lost the claim: stop at once; the new owner's epoch fences us anyway."""
        log.warning("job %s: %s; dropping it", self.job_id, error)
        with self._lock:
            self._lost = error
            engine = self._engine
        if engine is not None:
            engine._drop_lease(f"the claim of job {self.job_id} was lost")

    def _revoke_requested(self, reason: str) -> None:
        with self._lock:
            self._revoke = reason
            engine = self._engine
        if engine is not None:
            engine.revoke(reason, raise_error=False, requested_by=f"job {self.job_id}")

    def hand_back(self) -> None:
        """The conductor is stopping: let running atoms finish, suspend, hand the job back."""
        with self._lock:
            self._handing_back = True
            engine = self._engine
        if engine is not None:
            engine.suspend()

    def drop(self) -> None:
        """The conductor stops now: give up on the atoms in flight and hand the job back."""
        with self._lock:
            self._dropped = True
            engine = self._engine
        if engine is not None:
            engine._drop_lease("the conductor is stopping")

    def settle_now(self) -> Outcome:
        """Hand the job back from another thread: the job's own thread is stuck in a task.

        Its lease was dropped (:meth:`drop`), so nothing that thread does
        later reaches the store or the board.
        """
        self.drop()
        self._keeper.stop()
        return self._settle(Verdict("hand-back"))


def _infrastructure(error: BaseException) -> bool:
    """Errors of the store or of the flow's ownership, not of the job: worth trying later."""
    return isinstance(error, BackendUnavailableError | ConflictError) or type(error) in (
        PersistenceError,
        ConnectionError,
    )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:_REASON_LIMIT]


def stored_failure(backend: Backend, flow_id: str) -> str:
    """The failures the job's flow recorded, for a dead letter's reason."""
    try:
        detail = backend.get_flow_detail(flow_id)
    except NotFoundError:
        return "none recorded (its flow was never stored)"
    except Exception as exc:
        return f"unknown (the flow store could not be read: {_describe(exc)})"
    failures = [
        f"{atom.name}: {failure}"
        for atom in detail.atoms.values()
        for failure in (atom.failure, atom.revert_failure)
        if failure is not None
    ]
    if failures:
        return "; ".join(failures[:3])
    return f"none recorded (flow {detail.state.value}: its conductors died or let it go)"

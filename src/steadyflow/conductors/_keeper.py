"""Holding a job's claim: renewing it on a thread of its own, whatever the flow is doing.

A :class:`ClaimKeeper` renews one :class:`~steadyflow.jobs.Claim` every
ttl/3. A renewal that the board refuses (:class:`~steadyflow.jobs.ClaimLostError`)
or that cannot get through before the claim's expiry means the job is no
longer ours: the keeper says so once, through ``on_lost``, and stops. A
renewal that brings back a revoke request is passed on once, through
``on_revoke``. The board is reached through ``call`` (the conductor's board
thread), so a board object need not be thread-safe.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from steadyflow.jobs.base import ClaimLostError

if TYPE_CHECKING:
    from steadyflow.jobs.base import Claim

__all__ = ["BoardCall", "ClaimKeeper"]

T = TypeVar("T")

BoardCall = Callable[[Callable[[], T]], T]
"""Runs one board operation (on the conductor's board thread) and returns its result."""

_MIN_RETRY = 0.05


class ClaimKeeper:
    """Renews ``claim`` until :meth:`stop`; reports its loss and revoke requests once.

    Args:
        claim: a freshly taken claim.
        call: runs a board operation (serialised with the conductor's others).
        claimed_at: ``time.monotonic()`` taken just before the claim was sent:
            the claim is certainly ours until that plus its ttl.
        on_lost: called once, from the keeper's thread, when the claim is lost.
        on_revoke: called once, from the keeper's thread, with a revoke reason.
    """

    def __init__(
        self,
        claim: Claim,
        call: BoardCall[None],
        *,
        claimed_at: float,
        on_lost: Callable[[ClaimLostError], None],
        on_revoke: Callable[[str], None],
    ) -> None:
        self.claim = claim
        self._call = call
        self._valid_until = claimed_at + claim.ttl
        self._on_lost = on_lost
        self._on_revoke = on_revoke
        self._revoke_told = False
        self._stop = threading.Event()
        self.lost: ClaimLostError | None = None
        """Why the claim is gone, once it is."""
        self.renewals = 0
        self._thread = threading.Thread(
            target=self._run, name=f"steadyflow-claim-{claim.job_id}", daemon=True
        )

    def start(self) -> ClaimKeeper:
        """Start renewing (and report a revoke request the claim came with); returns self."""
        if self.claim.revoke_reason:
            self._tell_revoke(self.claim.revoke_reason)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing (idempotent); the claim itself is left as it is."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        interval = self.claim.ttl / 3
        wait = interval
        while not self._stop.wait(wait):
            sent = time.monotonic()
            try:
                self._call(self.claim.renew)
            except ClaimLostError as exc:
                self._lose(exc)
                return
            except Exception:
                # The board is unreachable for now: try again soon, give up at expiry.
                left = self._valid_until - time.monotonic()
                if left <= 0:
                    self._lose(self._expired())
                    return
                wait = max(_MIN_RETRY, min(interval / 4, left))
                continue
            self.renewals += 1
            self._valid_until = sent + self.claim.ttl
            wait = interval
            if self.claim.revoke_reason:
                self._tell_revoke(self.claim.revoke_reason)

    def _expired(self) -> ClaimLostError:
        claim = self.claim
        return ClaimLostError(
            f"the claim of job {claim.job_id} (epoch {claim.epoch}) could not be renewed "
            "before it expired; another conductor may have taken the job",
            job_id=claim.job_id,
            epoch=claim.epoch,
        )

    def _tell_revoke(self, reason: str) -> None:
        if self._revoke_told:
            return
        self._revoke_told = True
        with contextlib.suppress(Exception):  # a callback never breaks the keeper
            self._on_revoke(reason)

    def _lose(self, error: ClaimLostError) -> None:
        self.lost = error
        self._stop.set()
        with contextlib.suppress(Exception):
            self._on_lost(error)

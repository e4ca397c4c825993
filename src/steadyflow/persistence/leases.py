"""Holding a flow's lease: who we are, and renewing it in the background.

A :class:`~steadyflow.persistence.base.Lease` lives in the backend; this
module is the holder's side. :func:`process_owner` is the owner id every
lease taken by this process carries (random, renewed in a forked child, so a
child never passes for its parent). :class:`LeaseKeeper` renews a lease every
ttl/3 on a thread of its own, whatever the holder's tasks are doing, and
notices when it is gone: the store refused a renewal (someone took the flow
over) or no renewal got through before the lease's expiry. The engine loop
only reads :attr:`LeaseKeeper.lost`, which costs nothing on its path.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from steadyflow.errors import LeaseLostError

if TYPE_CHECKING:
    from steadyflow.persistence.base import Backend, Lease

__all__ = ["DEFAULT_LEASE_TTL", "LeaseKeeper", "process_owner"]

DEFAULT_LEASE_TTL = 30.0
"""Seconds a lease lasts without renewal: how long a dead holder blocks its flow."""

_MIN_RETRY = 0.05

_owner: str = ""


def _new_owner() -> None:
    global _owner
    _owner = f"{secrets.token_hex(8)}.{os.getpid()}"


_new_owner()
os.register_at_fork(after_in_child=_new_owner)


def process_owner() -> str:
    """This process's owner id: random, different in every process and forked child.

    The pid is appended to help a human reading it; the random part is what
    makes it unique (a pid is reused, a host name is shared by containers).
    """
    return _owner


class LeaseKeeper:
    """Renews ``lease`` on a background thread until :meth:`stop`.

    Args:
        backend: the store the lease lives in.
        lease: a freshly acquired lease.
        acquired_at: ``time.monotonic()`` taken just *before* the acquisition
            was sent: the lease is certainly valid until that plus its ttl.
        on_lost: called once, from the keeper's thread, when the lease is lost.
    """

    def __init__(
        self,
        backend: Backend,
        lease: Lease,
        *,
        acquired_at: float,
        on_lost: Callable[[LeaseLostError], None] | None = None,
    ) -> None:
        self.backend = backend
        self._lease = lease
        self._valid_until = acquired_at + lease.ttl
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._losing = threading.Lock()
        self.lost: LeaseLostError | None = None
        """Why the lease is gone, once it is (read it; it never goes back to None)."""
        self.renewals = 0
        self._thread = threading.Thread(
            target=self._run, name=f"steadyflow-lease-{lease.flow_uuid}", daemon=True
        )

    @property
    def lease(self) -> Lease:
        """The lease as last renewed."""
        return self._lease

    @property
    def epoch(self) -> int:
        """The lease's epoch: what every write of the holder is fenced with."""
        return self._lease.epoch

    def start(self) -> LeaseKeeper:
        """Start renewing; returns self."""
        self._thread.start()
        return self

    def stop(self, *, release: bool = True) -> None:
        """Stop renewing and, unless lost or told not to, release the lease. Idempotent."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        if release and self.lost is None:
            # Expiry releases it anyway when the store cannot be reached now.
            with contextlib.suppress(Exception):
                self.backend.release_lease(self._lease)

    def mark_lost(self, error: LeaseLostError) -> None:
        """Record that the store refused a write under this lease: stop renewing it."""
        self._lose(error)

    def check(self) -> None:
        """Raise :class:`LeaseLostError` when the lease is gone."""
        if self.lost is None and time.monotonic() >= self._valid_until:
            self._lose(self._expired())
        if self.lost is not None:
            raise self.lost

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        interval = self._lease.ttl / 3
        wait = interval
        while not self._stop.wait(wait):
            sent = time.monotonic()
            try:
                self._lease = self.backend.renew_lease(self._lease)
            except LeaseLostError as exc:
                self._lose(exc)
                return
            except Exception:
                # The store is unreachable for now: try again soon, give up at expiry.
                if time.monotonic() >= self._valid_until:
                    self._lose(self._expired())
                    return
                wait = max(_MIN_RETRY, min(interval / 4, self._valid_until - time.monotonic()))
                continue
            self.renewals += 1
            self._valid_until = sent + self._lease.ttl
            wait = interval

    def _expired(self) -> LeaseLostError:
        lease = self._lease
        return LeaseLostError(
            f"the lease on flow {lease.flow_uuid} (epoch {lease.epoch}) expired before it "
            f"could be renewed; another runner may take the flow over",
            flow_id=lease.flow_uuid,
            epoch=lease.epoch,
        )

    def _lose(self, error: LeaseLostError) -> None:
        # The engine's check() and the keeper's thread may both get here: first one wins.
        with self._losing:
            if self.lost is not None:
                return
            self.lost = error
        self._stop.set()
        if self._on_lost is not None:
            # A callback never breaks the keeper.
            with contextlib.suppress(Exception):
                self._on_lost(error)

"""Revoke requests: asking a run to stop and undo its flow, in memory and in the store.

:class:`RevokeRequest` is what ``engine.revoke()`` hands the engine loop (it
reads one attribute per scheduling round, nothing per atom).

A flow that another runner is running cannot be written by us: its flow
detail is fenced by that runner's lease. So a revoke of such a flow is a
**stored revoke request**, a record of its own that needs no lease: a small
flow detail with a name derived from the flow's id, in the logbook
:data:`REQUESTS_BOOK`, created with a conditional write (``expected_version=0``,
so the first request wins and a second is a no-op). The runner reads it once
when it takes the lease, then every :data:`REQUEST_POLL` seconds on a thread of
its own (:class:`RequestWatcher`), never on the engine's path; once it has
adopted the request it keeps it in the flow's own recovery record, and it
deletes the request record when the revoke is done.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from steadyflow.errors import ConflictError, FlowRevokedError, NotFoundError
from steadyflow.failure import Failure

if TYPE_CHECKING:
    from steadyflow.engine.options import RevokeOutcome
    from steadyflow.persistence.base import Backend
    from steadyflow.states import FlowState

__all__ = [
    "REQUESTS_BOOK",
    "REQUEST_POLL",
    "RequestWatcher",
    "Revocation",
    "RevokeRequest",
    "default_requester",
    "delete_request",
    "read_request",
    "request_id",
    "write_request",
]

REQUESTS_BOOK = "steadyflow-revoke-requests"
"""The logbook that holds stored revoke requests."""

REQUEST_NAME = "steadyflow.revoke-request"
"""The flow-detail name of a stored request (so that listings can tell them apart)."""

REQUEST_POLL = 1.0
"""Seconds between two reads of a running flow's stored revoke request."""

_FORMAT = 1


class RevokeRequest(NamedTuple):
    """One request to revoke a flow: why, who asked, and how the run should end."""

    reason: str | None
    requested_by: str
    wait: bool = False
    """Let the atoms that run finish before reverting, instead of giving up on them."""
    raise_error: bool = True
    """Whether the run raises :class:`FlowRevokedError` once the flow is reverted."""

    def error(self, flow_name: str, failures: list[Failure]) -> FlowRevokedError:
        """The error a run that this request reverted raises."""
        because = f": {self.reason}" if self.reason else ""
        return FlowRevokedError(
            f"flow {flow_name!r} was revoked by {self.requested_by}{because}",
            reason=self.reason,
            requested_by=self.requested_by,
            failures=failures,
        )

    def failure(self, flow_name: str) -> Failure:
        """What an atom given up on by this revoke is recorded as failing with."""
        return Failure.from_exception(self.error(flow_name, []))

    def to_dict(self) -> dict[str, Any]:
        """The part of the request that survives a crash (the recovery record's)."""
        return {"reason": self.reason, "requested_by": self.requested_by}

    @classmethod
    def from_dict(cls, data: Any) -> RevokeRequest:
        """Read :meth:`to_dict`'s output back.

        Raises:
            TypeError, KeyError: ``data`` is not such a mapping.
        """
        reason = data["reason"]
        requested_by = data["requested_by"]
        if not (reason is None or isinstance(reason, str)) or not isinstance(requested_by, str):
            raise TypeError(f"a revoke request needs string fields, not {data!r}")
        return cls(reason, requested_by)


class Revocation(NamedTuple):
    """What :func:`steadyflow.revoke` did with a stored flow."""

    flow_id: str
    outcome: RevokeOutcome
    """``"reverted"``: undone here, now; ``"requested"``: another runner holds the
    flow and will revert it on seeing the stored request; ``"already-reverted"``:
    nothing was left to undo."""
    state: FlowState
    """The flow's state as this call last saw it (REVERTED once undone)."""


def default_requester() -> str:
    """Who asks when the caller does not say: this host and process."""
    import socket

    return f"pid {os.getpid()} on {socket.gethostname()}"


def check_request(reason: object, requested_by: object) -> None:
    """Raise :class:`TypeError` for a reason or requester that is not a string."""
    if reason is not None and not isinstance(reason, str):
        raise TypeError(f"a revoke reason must be a string or None, not {reason!r}")
    if requested_by is not None and not isinstance(requested_by, str):
        raise TypeError(f"requested_by must be a string or None, not {requested_by!r}")


# -- stored requests ---------------------------------------------------------------------


def request_id(flow_id: str) -> str:
    """The id of the request record of ``flow_id`` (a valid flow id, whatever its length)."""
    import hashlib

    return "revoke-" + hashlib.sha256(flow_id.encode()).hexdigest()[:40]


def write_request(backend: Backend, flow_id: str, request: RevokeRequest) -> RevokeRequest:
    """Store a revoke request for ``flow_id``; the one already stored wins.

    No lease is needed: the record is not the flow's, and the write is a
    create-only conditional write.

    Returns:
        The request now stored (``request``, or an earlier one).
    """
    from steadyflow.persistence.models import FlowDetail, LogBook

    meta = {"format": _FORMAT, "flow_id": flow_id, "requested_at": time.time()}
    meta.update(request.to_dict())
    detail = FlowDetail(uuid=request_id(flow_id), name=REQUEST_NAME, meta=meta)
    try:
        try:
            backend.save_flow_detail(REQUESTS_BOOK, detail, expected_version=0)
        except NotFoundError:
            with contextlib.suppress(ConflictError):
                backend.save_logbook(LogBook(uuid=REQUESTS_BOOK, name=REQUESTS_BOOK))
            backend.save_flow_detail(REQUESTS_BOOK, detail, expected_version=0)
    except ConflictError:
        stored = read_request(backend, flow_id)
        return request if stored is None else stored
    return request


def read_request(backend: Backend, flow_id: str) -> RevokeRequest | None:
    """The stored revoke request of ``flow_id``, or None (an unreadable one counts as one)."""
    try:
        detail = backend.get_flow_detail(request_id(flow_id))
    except NotFoundError:
        return None
    try:
        return RevokeRequest.from_dict(detail.meta)
    except (KeyError, TypeError):
        # Someone asked for a revoke: obeying beats ignoring a record we cannot read.
        return RevokeRequest(None, "an unreadable revoke request")


def delete_request(backend: Backend, flow_id: str) -> None:
    """Remove the stored revoke request of ``flow_id`` (none is fine)."""
    with contextlib.suppress(NotFoundError):
        backend.delete_flow_detail(request_id(flow_id))


class RequestWatcher:
    """Reads a running flow's stored revoke request every :data:`REQUEST_POLL` seconds.

    Runs on a daemon thread of its own so that a slow read never delays the
    engine loop nor the lease's renewal; it calls ``on_request`` once, from
    that thread, and stops.
    """

    def __init__(
        self,
        backend: Backend,
        flow_id: str,
        on_request: Callable[[RevokeRequest], None],
        *,
        interval: float = REQUEST_POLL,
    ) -> None:
        self.backend = backend
        self.flow_id = flow_id
        self.on_request = on_request
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"steadyflow-revoke-{flow_id}", daemon=True
        )

    def start(self) -> RequestWatcher:
        """Start watching; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (idempotent); waits for a read in progress."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                request = read_request(self.backend, self.flow_id)
            except Exception:  # the store is down for now: the next read may work
                continue
            if request is not None:
                self.on_request(request)
                return

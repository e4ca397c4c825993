"""Live updates of a flow page: poll the store, push what changed as server-sent events.

The engine is not hooked: the dashboard reads the flow detail (one indexed
read of a row and its atoms) every poll interval and sends an event only
when the flow's fingerprint moved. While the flow runs an event also goes
out every :data:`RUNNING_REFRESH` seconds so the bars of running attempts grow.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from steadyflow.errors import NotFoundError

if TYPE_CHECKING:
    from starlette.requests import Request

    from steadyflow.persistence.base import Backend
    from steadyflow.persistence.models import FlowDetail

__all__ = ["KEEPALIVE", "RUNNING_REFRESH", "fingerprint", "flow_events"]

RUNNING_REFRESH = 1.0
"""Seconds between two events of a running flow whose record did not change."""

KEEPALIVE = 15.0
"""Seconds between comments sent on a quiet stream, so proxies keep it open."""

_MOVING = frozenset({"RUNNING", "REVERTING", "RESUMING", "SUSPENDING"})

Fingerprint = tuple[object, ...]


def fingerprint(detail: FlowDetail) -> Fingerprint:
    """What must change for the page to need redrawing."""
    atoms = tuple(
        sorted((a.name, a.state.value, a.updated_at, len(a.history)) for a in detail.atoms.values())
    )
    return (detail.state.value, detail.version, detail.updated_at, atoms)


def _event(name: str, data: object) -> str:
    # json.dumps escapes newlines, so the payload is one SSE data line.
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def flow_events(
    request: Request,
    backend: Backend,
    flow_id: str,
    render: Callable[[FlowDetail], dict[str, str]],
    poll: float,
    stop: threading.Event,
) -> AsyncIterator[str]:
    """The event stream of one flow page, until the browser goes away.

    Args:
        request: the SSE request (watched for the client leaving).
        backend: the store.
        flow_id: the flow shown.
        render: the page's fragments (element id -> HTML) for a flow detail.
        poll: seconds between two reads of the store.
        stop: set when the server shuts down: the stream ends (the browser
            reconnects to whichever server comes next).
    """
    yield "retry: 1000\n\n"
    last: Fingerprint | None = None
    sent = quiet = time.monotonic()
    while not stop.is_set() and not await request.is_disconnected():
        try:
            detail = await run_in_threadpool(backend.get_flow_detail, flow_id)
        except NotFoundError:
            yield _event("gone", {"flow": flow_id})
            return
        mark = fingerprint(detail)
        now = time.monotonic()
        stale = detail.state.value in _MOVING and now - sent >= RUNNING_REFRESH
        if mark != last or stale:
            fragments = await run_in_threadpool(render, detail)
            yield _event("update", {"state": detail.state.value, "fragments": fragments})
            last, sent, quiet = mark, now, now
        elif now - quiet >= KEEPALIVE:
            yield ": keepalive\n\n"
            quiet = now
        await asyncio.sleep(poll)

"""The errors every backend raises for leases, worded once.

Each backend decides *whether* a lease is taken, current or lost in its own
store; how that is told to the caller (type, attributes, message) is the
same everywhere, so it lives here.
"""

from __future__ import annotations

import time

from steadyflow.errors import FlowLockedError, LeaseLostError

__all__ = ["locked_error", "lost_error", "stale_epoch_error"]


def locked_error(flow_uuid: str, holder: str | None, expires_at: float | None) -> FlowLockedError:
    """Someone holds a live lease on ``flow_uuid`` (holder/expiry None when unknown)."""
    if holder is None or expires_at is None:
        detail = "another runner took it at the same moment"
    else:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at))
        detail = f"held by {holder} until {stamp} unless renewed"
    return FlowLockedError(
        f"flow {flow_uuid} is being run by another runner ({detail})",
        flow_id=flow_uuid,
        holder=holder,
        expires_at=expires_at,
    )


def stale_epoch_error(
    flow_uuid: str, epoch: int, stored: int, holder: str | None, expires_at: float | None
) -> FlowLockedError:
    """An externally issued ``epoch`` is not newer than the one stored."""
    return FlowLockedError(
        f"flow {flow_uuid} cannot be taken with epoch {epoch}: the store is already at "
        f"epoch {stored}",
        flow_id=flow_uuid,
        holder=holder,
        expires_at=expires_at,
    )


def lost_error(flow_uuid: str, epoch: int) -> LeaseLostError:
    """The lease of ``epoch`` was released or taken over: its holder must stop."""
    return LeaseLostError(
        f"the lease on flow {flow_uuid} with epoch {epoch} is no longer current "
        "(released, or taken over by another runner)",
        flow_id=flow_uuid,
        epoch=epoch,
    )

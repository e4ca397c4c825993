"""The etcd board's pool of claim leases: reused once their claim ended, readied off-thread.

A lease whose claim was completed, abandoned or trashed holds no key any
more; the next claim of the same granted ttl keeps it alive (a keep-alive
restores its whole ttl, and etcd's leader answers it without a logged write)
instead of granting a new lease. Readying a lease runs on a thread of its own,
beside the claim's read of the open jobs. See :mod:`steadyflow.jobs.etcd`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from steadyflow.errors import BackendUnavailableError

__all__ = ["Lease", "LeasePool"]

Lease = tuple[int, int]
"""A lease's id and the ttl etcd granted it (whole seconds)."""

_POOL_LIMIT = 64
"""Free leases kept per ttl (more are left to run out by themselves)."""


class LeasePool:
    """Free leases by granted ttl, and the thread that readies one for the next claim.

    Args:
        call: sends one request to etcd's gateway (on a client of the pool's own,
            since it runs on the pool's thread) and returns the reply.
    """

    def __init__(self, call: Callable[[str, dict[str, Any]], dict[str, Any]]) -> None:
        self._call = call
        self._thread: ThreadPoolExecutor | None = None
        #: Granted ttl → leases that hold no key (their claim ended), newest last.
        self._free: dict[int, list[int]] = {}
        self._lock = threading.Lock()

    def prepare(self, ttl: float) -> Future[Lease]:
        """A lease for a claim of ``ttl``, made ready on the pool's thread."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="etcd-board-lease")
        return self._thread.submit(self._fresh, max(1, math.ceil(ttl)))

    def release(self, lease: Lease) -> None:
        """Put a lease that holds no key back in the pool of its ttl."""
        with self._lock:
            free = self._free.setdefault(lease[1], [])
            if len(free) < _POOL_LIMIT:
                free.append(lease[0])

    def release_unused(self, preparing: Future[Lease]) -> None:
        """Put back a lease readied for a claim that found nothing to take (a callback)."""
        if not preparing.cancelled() and preparing.exception() is None:
            self.release(preparing.result())

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)

    def _fresh(self, seconds: int) -> Lease:
        """A free lease kept alive just now (its whole ttl ahead), else a new one."""
        while True:
            with self._lock:
                free = self._free.get(seconds)
                lease = free.pop() if free else None
            if lease is None:
                break
            try:
                reply = self._call("/lease/keepalive", {"ID": lease})
            except BackendUnavailableError:
                continue  # e.g. etcd forgot it across a restart: try another, or grant one
            granted = int(reply.get("result", {}).get("TTL", 0))
            if granted > 0:
                return lease, granted
        reply = self._call("/lease/grant", {"TTL": seconds, "ID": 0})
        return int(reply["ID"]), int(reply["TTL"])

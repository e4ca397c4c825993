"""Wake-ups of a ZooKeeper board's waiting claimers: its watches and the version waiters wait on.

A watch on ``ready/`` wakes waiters when a job is posted or handed back, one
on ``claims/`` when a claim node vanishes. A ZooKeeper watch fires once, and
it is set again only when needed, never after each event: a claim's own read
of ``ready/`` sets that watch (:meth:`Watches.read_ready`), and a wait sets
whichever watch has fired since (:meth:`Watches.wait`), checking that no claim
node the claim's scan saw vanished before it was set. So a board that posts
and claims without waiting pays no watch traffic.

Every event, session change or vanished claim node moves one version
number; a wait returns when it moved since the scan the wait follows, or at
the earliest expiry that scan saw (:meth:`Watches.expect_change_by`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["Watches"]

_PARTS = ("ready", "claims")


class Watches:
    """The watch bookkeeping of one :class:`~steadyflow.jobs.zookeeper.ZooKeeperBoard`.

    Args:
        client: the board's started KazooClient.
        root: the board's root path.
    """

    def __init__(self, client: Any, root: str) -> None:
        self._client = client
        self._root = root
        self._changed = threading.Condition()
        self._version = 0
        self._deadline: float | None = None
        """Monotonic time of the next claim expiry or abandon delay the last scan saw."""
        #: Events seen per watched child list, and the count when its watch was last
        #: set: a watch is set while the two are equal (it fires once).
        self._events = dict.fromkeys(_PARTS, 0)
        self._armed: dict[str, int | None] = dict.fromkeys(_PARTS)
        #: Per thread: the version before its last scan, and the job ids whose claim
        #: node that scan saw (or raced for).
        self._local = threading.local()

    def arm_all(self) -> None:
        """Set every watch (a new board)."""
        for part in _PARTS:
            self._arm(part)

    # -- a claim's scan ----------------------------------------------------------------------

    def begin_scan(self) -> set[str]:
        """Note the version a claim's scan starts at; fill the set returned with busy job ids.

        A change that lands while the scan runs must still wake the wait after it.
        """
        self._local.seen = self._version
        busy: set[str] = set()
        self._local.busy = busy
        return busy

    def read_ready(self) -> tuple[Any, int]:
        """Start reading ``ready/``'s children, setting its watch.

        Returns the async result and a mark to pass to :meth:`ready_read` once
        the read answered.
        """
        with self._changed:
            events = self._events["ready"]
        read = self._client.get_children_async(f"{self._root}/ready", watch=self._on_event)
        return read, events

    def ready_read(self, mark: int) -> None:
        """The read :meth:`read_ready` started answered: its watch is set."""
        self._set_armed("ready", mark)

    def expect_change_by(self, deadline: float | None) -> None:
        """The monotonic time the scan's soonest expiry is due (None: none seen)."""
        with self._changed:
            self._deadline = deadline

    # -- events ------------------------------------------------------------------------------

    def session_changed(self) -> None:
        """The session reconnected or ended: watches may be gone; wake every waiter."""
        with self._changed:
            # The session ended with its watches, or a watch set while the connection was
            # down may never have reached the service: the next claim or wait sets them.
            for part in self._events:
                self._events[part] += 1
            self._version += 1
            self._changed.notify_all()

    def bump(self) -> None:
        """Wake every waiter."""
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def _on_event(self, event: Any) -> None:
        # Wake waiters; the one-shot watch is not set again here: the next claim's read
        # of ready/, or the next wait, sets it (a busy board pays no watch traffic).
        part = event.path.rsplit("/", 1)[-1] if event.path else ""
        with self._changed:
            if part in self._events:
                self._events[part] += 1
            self._version += 1
            self._changed.notify_all()

    def _set_armed(self, part: str, events: int) -> None:
        with self._changed:
            self._armed[part] = events

    def _arm(self, part: str, vanished: set[str] | None = None) -> None:
        """Set the watch on ``part``'s children, without waiting for the answer.

        With ``vanished``, the answer wakes waiters when one of those job ids has
        no claim node any more (it vanished before the watch was set).
        """
        self._set_armed(part, self._events[part])
        found = self._client.get_children_async(f"{self._root}/{part}", watch=self._on_event)
        if vanished:
            found.rawlink(lambda result: self._check_vanished(result, vanished))

    def _check_vanished(self, result: Any, seen: set[str]) -> None:
        if result.successful() and not seen.issubset(result.value):
            self.bump()

    # -- waiting -----------------------------------------------------------------------------

    def wait(self, timeout: float | None) -> bool:
        """Wait for a change since this thread's last scan (or the expiry it saw)."""
        seen = getattr(self._local, "seen", None)
        busy: set[str] = getattr(self._local, "busy", set())
        self._local.seen = None
        self._local.busy = set()
        with self._changed:
            unarmed = [part for part, at in self._armed.items() if at != self._events[part]]
        for part in unarmed:
            # Fired since it was set: set it again now. A change between the scan this
            # wait follows and now is caught as follows: on ready/ it fired the watch the
            # scan set (so the version moved); on claims/ the answer is checked against
            # the claim nodes the scan saw.
            self._arm(part, vanished=busy if part == "claims" else None)
        with self._changed:
            if seen is None:
                if unarmed:
                    return True  # no scan to compare with: a spurious wake-up, allowed
                seen = self._version
            limit = timeout
            deadline = self._deadline
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                limit = left if limit is None else min(limit, left)
            self._changed.wait_for(lambda: self._version != seen, limit)
            passed = deadline is not None and time.monotonic() >= deadline
            return self._version != seen or passed

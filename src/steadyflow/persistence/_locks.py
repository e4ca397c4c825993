"""Flow runner locks that need no server: an in-process set and ``flock``.

Both are released by the operating system when their holder dies: the set
dies with the process, and the kernel drops an ``flock`` when the last file
descriptor to it is closed, which a SIGKILL does. That is why a lock *file*
is never used as the lock itself (a stale file would outlive a crash).
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from typing import TYPE_CHECKING

from steadyflow.errors import FlowLockedError, PersistenceError
from steadyflow.persistence.base import FlowLock
from steadyflow.persistence.models import is_valid_id

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["FileLocks", "InProcessLocks"]


class _CallbackLock(FlowLock):
    """A lock whose release is a callback; used by both lock families here."""

    __slots__ = ("_unlock",)

    def __init__(self, flow_uuid: str, unlock: Callable[[], None]) -> None:
        super().__init__(flow_uuid)
        self._unlock = unlock

    def _release(self) -> None:
        self._unlock()


class InProcessLocks:
    """Exclusive flow locks valid within one process (memory stores)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held: set[str] = set()

    def acquire(self, flow_uuid: str) -> FlowLock:
        """Lock ``flow_uuid`` or raise :class:`FlowLockedError` at once."""
        with self._mutex:
            if flow_uuid in self._held:
                raise FlowLockedError(f"flow {flow_uuid} is already being run in this process")
            self._held.add(flow_uuid)
        return _CallbackLock(flow_uuid, lambda: self._discard(flow_uuid))

    def _discard(self, flow_uuid: str) -> None:
        with self._mutex:
            self._held.discard(flow_uuid)


class FileLocks:
    """Exclusive flow locks shared by every process on this host: ``flock``.

    Each flow has a file ``<directory>/<flow uuid>.lock``. Files are never
    deleted: unlinking a lock file while another process has it open would
    let two processes lock two different inodes under one name.
    ``flock`` is per open file description, so two locks on one flow in the
    same process conflict as well, which is what we want. It is not reliable
    on network file systems.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def acquire(self, flow_uuid: str) -> FlowLock:
        """Lock ``flow_uuid`` or raise :class:`FlowLockedError` at once.

        Raises:
            FlowLockedError: another holder (any process) has the lock.
            PersistenceError: the lock file cannot be created.
            ValueError: ``flow_uuid`` is not usable as a file name.
        """
        if not is_valid_id(flow_uuid):
            raise ValueError(f"invalid flow detail uuid {flow_uuid!r}")
        path = self.directory / f"{flow_uuid}.lock"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise PersistenceError(f"cannot open lock file {path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FlowLockedError(
                    f"flow {flow_uuid} is already being run (lock file {path} is held)"
                ) from exc
            raise PersistenceError(f"cannot lock {path}: {exc}") from exc
        return _CallbackLock(flow_uuid, lambda: _unlock_fd(fd))


def _unlock_fd(fd: int) -> None:
    # Closing the descriptor drops the flock; unlocking first is belt and braces
    # against a descriptor duplicated by a fork.
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

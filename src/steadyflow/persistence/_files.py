"""Durable file primitives for the directory backend.

A write is durable only when the data, the rename and the directory entry
have all reached the disk: write a temporary file in the same directory,
fsync it, rename it over the target (atomic on POSIX), then fsync the
directory. Readers therefore see the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from typing import TYPE_CHECKING

from steadyflow.errors import BackendUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["DEFAULT_LOCK_TIMEOUT", "WriteLock", "fsync_dir", "make_dirs", "write_atomic"]

DEFAULT_LOCK_TIMEOUT = 10.0
"""Seconds a writer waits for the store's write lock before giving up."""

_FIRST_NAP = 0.001
_LONGEST_NAP = 0.05


def fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """Create ``path`` and missing parents, making each new entry durable."""
    if path.is_dir():
        return
    make_dirs(path.parent)
    with contextlib.suppress(FileExistsError):
        path.mkdir()
        fsync_dir(path.parent)


def write_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` so that readers never see a partial file.

    Args:
        path: the target file; its directory must exist.
        text: the new content, written as UTF-8.
        durable: fsync file and directory (turn off only for throwaway stores).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    data = text.encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


class WriteLock:
    """Serializes writers of one store across threads and processes.

    Writers hold it only for a read-modify-write of a few files, so waiting
    a little for it is right; waiting forever is not: a holder that is
    stopped (SIGSTOP, a debugger) would freeze every flow of the store. The
    wait is therefore bounded: non-blocking attempts with short naps, then
    :class:`~steadyflow.errors.BackendUnavailableError` naming the lock file.

    Args:
        path: the lock file (created when missing, never deleted).
        timeout: seconds to wait for the lock.
    """

    def __init__(self, path: Path, *, timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self._path = path
        self._timeout = timeout
        self._mutex = threading.Lock()
        self._fd: int | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the ``with`` block.

        Raises:
            BackendUnavailableError: it stayed held by another writer for ``timeout``.
        """
        deadline = time.monotonic() + self._timeout
        if not self._mutex.acquire(timeout=self._timeout):
            raise self._timed_out("another thread of this process")
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._lock(self._fd, deadline)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()

    def _lock(self, fd: int, deadline: float) -> None:
        nap = _FIRST_NAP
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timed_out("another process")
            time.sleep(min(nap, left))
            nap = min(nap * 2, _LONGEST_NAP)

    def _timed_out(self, by: str) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"the store's write lock {self._path} stayed held by {by} for "
            f"{self._timeout:g} s (a stopped or hung writer?)"
        )

    def close(self) -> None:
        """Close the lock file (waits for a writer still holding it)."""
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

"""The directory store's write lock waits a bounded time for a stuck writer."""

from __future__ import annotations

import fcntl
import os
from typing import TYPE_CHECKING

import pytest

from steadyflow.errors import BackendUnavailableError
from steadyflow.persistence import DirectoryBackend, LogBook

if TYPE_CHECKING:
    from pathlib import Path


def test_a_stuck_writer_makes_writes_fail_naming_the_lock_file(tmp_path: Path) -> None:
    # Given a store whose write lock another writer holds and never lets go
    # (a separate open file description conflicts like another process would)
    backend = DirectoryBackend(tmp_path / "store", durable=False, lock_timeout=0.2)
    fd = os.open(tmp_path / "store" / ".write.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        # When this backend writes or takes a lease
        # Then it gives up with an error naming the lock file, instead of hanging
        with pytest.raises(BackendUnavailableError, match=r"\.write\.lock"):
            backend.save_logbook(LogBook(name="b"))
        with pytest.raises(BackendUnavailableError, match=r"\.write\.lock"):
            backend.acquire_lease("flow-1", "a", 60.0)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    # And once the writer is gone, writing works again
    backend.save_logbook(LogBook(name="b"))
    assert backend.acquire_lease("flow-1", "a", 60.0).epoch == 1
    backend.close()

"""Every call a conductor makes to its board, made on one thread of its own, in turn.

A conductor's claim loop, its claim keepers and its jobs all talk to the
board. Sending every call through one long-lived thread means a board is
only ever used from that thread: a board object need not be thread-safe,
and a board that keeps a connection per thread (the SQLite board does)
keeps exactly one, instead of one per job thread that ever touched it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["BoardThread"]

T = TypeVar("T")

_Item = tuple[Callable[[], Any], "Future[Any]"] | None


class BoardThread:
    """Runs board operations one after another on a daemon thread, started on first use."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def call(self, operation: Callable[[], T]) -> T:
        """Run ``operation`` on the board thread; return its result or raise its error."""
        thread = self._running_thread()
        if thread is threading.current_thread():
            return operation()
        future: Future[T] = Future()
        self._queue.put((operation, future))
        return future.result()

    def close(self) -> None:
        """Let the thread end once the calls already queued are made (idempotent)."""
        with self._starting:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _running_thread(self) -> threading.Thread:
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()
            return self._thread

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            operation, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(operation())
            except BaseException as exc:  # handed to the caller, which re-raises it
                future.set_exception(exc)

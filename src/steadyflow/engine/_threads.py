"""The parallel executor: jobs on a thread pool, completions through a queue."""

from __future__ import annotations

import os
import queue
from concurrent.futures import Executor as FuturesExecutor
from concurrent.futures import Future, ThreadPoolExecutor

from steadyflow.engine._executor import Completion, Executor, Job, invoke
from steadyflow.failure import Failure

__all__ = ["ThreadExecutor"]


class ThreadExecutor(Executor):
    """Runs jobs on threads; the engine keeps at most ``capacity`` of them in flight.

    Args:
        max_workers: threads of the pool created here (default: 8, or the
            CPU count plus 4 when larger).
        executor: a ready ``concurrent.futures`` executor to use instead; it
            is not shut down by :meth:`close`.
    """

    def __init__(
        self, *, max_workers: int | None = None, executor: FuturesExecutor | None = None
    ) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, not {max_workers}")
        workers = max_workers or max(8, (os.cpu_count() or 1) + 4)
        self._owned = executor is None
        self._pool: FuturesExecutor = executor or ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="steadyflow"
        )
        self.capacity = workers if max_workers or executor is None else 64
        self._queue: queue.SimpleQueue[Completion] = queue.SimpleQueue()
        self._buffer: list[Completion] = []
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def submit(self, job: Job) -> None:
        future = self._pool.submit(invoke, job)
        self._in_flight += 1
        future.add_done_callback(lambda done: self._deliver(done, job))

    def _deliver(self, future: Future[Completion], job: Job) -> None:
        error = future.exception()
        if error is None:
            self._queue.put(future.result())
            return
        # Only a BaseException (SystemExit in a task, say) escapes invoke().
        self._queue.put(Completion(job.node, job.revert, False, Failure.from_exception(error)))

    def take(self) -> list[Completion]:
        done = self._buffer
        self._buffer = []
        while True:
            try:
                done.append(self._queue.get_nowait())
            except queue.Empty:
                break
        self._in_flight -= len(done)
        return done

    def wait(self, timeout: float | None) -> None:
        if self._buffer or self._in_flight == 0:
            return
        try:
            self._buffer.append(self._queue.get(timeout=timeout))
        except queue.Empty:
            return

    def close(self) -> None:
        if self._owned:
            self._pool.shutdown(wait=True)

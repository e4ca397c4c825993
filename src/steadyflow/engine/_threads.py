"""The parallel executor: jobs on a thread pool, completions through a queue.

``async def`` jobs do not take a thread: they run on a private event loop
(one helper thread for all of them), started the first time one shows up.

A job with a timeout that passes is reported failed at once
(:class:`~steadyflow.errors.TaskTimeoutError`); Python cannot stop a thread,
so the thread runs on until the task returns and its result is dropped.
"""

from __future__ import annotations

import heapq
import os
import queue
import time
from collections.abc import Awaitable
from concurrent.futures import Executor as FuturesExecutor
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from steadyflow.engine._asyncio import LoopThread
from steadyflow.engine._executor import (
    Completion,
    Executor,
    Job,
    failed,
    invoke,
    invoke_async,
    timeout_failure,
)
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
        self._queue: queue.SimpleQueue[tuple[int, Completion]] = queue.SimpleQueue()
        self._buffer: list[tuple[int, Completion]] = []
        self._live: dict[int, Job] = {}
        self._deadlines: list[tuple[float, int]] = []
        self._seq = 0
        self._loop: LoopThread | None = None
        self._abandoned = False

    @property
    def in_flight(self) -> int:
        return len(self._live)

    def _loop_thread(self) -> LoopThread:
        if self._loop is None:
            self._loop = LoopThread()
        return self._loop

    def _await(self, value: Awaitable[Any], job: Job) -> Any:
        return self._loop_thread().run(value, job)

    def submit(self, job: Job) -> None:
        self._seq += 1
        key = self._seq
        self._live[key] = job
        if job.timeout is not None:
            heapq.heappush(self._deadlines, (time.monotonic() + job.timeout, key))
        future: Future[Completion]
        if job.is_async:
            # The coroutine enforces its own timeout by cancellation.
            future = self._loop_thread().submit(invoke_async(job))
        else:
            future = self._pool.submit(invoke, job, self._await)
        future.add_done_callback(lambda done: self._deliver(done, key, job))

    def _deliver(self, future: Future[Completion], key: int, job: Job) -> None:
        if future.cancelled():
            return  # only abandoned jobs are cancelled, when the executor closes
        error = future.exception()
        if error is None:
            self._queue.put((key, future.result()))
            return
        # Only a BaseException (SystemExit in a task, say) escapes invoke().
        self._queue.put((key, failed(job, Failure.from_exception(error))))

    def take(self) -> list[Completion]:
        arrived = self._buffer
        self._buffer = []
        while True:
            try:
                arrived.append(self._queue.get_nowait())
            except queue.Empty:
                break
        live = self._live
        done = [completion for key, completion in arrived if live.pop(key, None) is not None]
        if self._deadlines:
            done.extend(self._expired())
        return done

    def _expired(self) -> list[Completion]:
        """Failures for the jobs whose timeout passed; their threads are abandoned."""
        now = time.monotonic()
        done: list[Completion] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, key = heapq.heappop(self._deadlines)
            job = self._live.pop(key, None)
            if job is not None:
                self._abandoned = True
                done.append(failed(job, timeout_failure(job)))
        return done

    def wait(self, timeout: float | None) -> None:
        if self._buffer or not self._live:
            return
        if self._deadlines:
            until = max(0.0, self._deadlines[0][0] - time.monotonic())
            timeout = until if timeout is None else min(timeout, until)
        try:
            self._buffer.append(self._queue.get(timeout=timeout))
        except queue.Empty:
            return

    def abandon(self) -> list[Job]:
        jobs = list(self._live.values())
        self._live.clear()
        self._deadlines.clear()
        self._abandoned = self._abandoned or bool(jobs)
        return jobs

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        if self._owned:
            # Abandoned threads (timed out) are not waited for: they finish on their own.
            self._pool.shutdown(wait=not self._abandoned, cancel_futures=self._abandoned)

"""The parallel executor: jobs on a thread pool, completions through a queue.

``async def`` jobs do not take a thread: they run on a private event loop
(one helper thread for all of them), started the first time one shows up.

A job with a timeout that passes is reported failed at once
(:class:`~steadyflow.errors.TaskTimeoutError`); Python cannot stop a thread,
so the thread runs on until the task returns, its result is dropped, and
then it ends (it is a daemon thread: it never delays the interpreter's exit).
"""

from __future__ import annotations

import heapq
import os
import queue
import threading
import time
from concurrent.futures import Executor as FuturesExecutor
from concurrent.futures import Future

from steadyflow.engine._executor import (
    Completion,
    Job,
    ThreadedExecutor,
    failed,
    invoke,
    invoke_async,
    timeout_failure,
)

__all__ = ["ThreadExecutor"]


_WAKE = Completion(-1, False, True, None)
"""What :meth:`ThreadExecutor.wake` puts in the completion queue to end a wait."""


class ThreadExecutor(ThreadedExecutor):
    """Runs jobs on threads; the engine keeps at most ``capacity`` of them in flight.

    Without ``executor``, jobs go to worker threads of this executor's own,
    fed through a queue (much cheaper per job than ``concurrent.futures``),
    started as jobs need them and stopped by :meth:`close`.

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
        self._pool: FuturesExecutor | None = executor
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._jobs: queue.SimpleQueue[tuple[int, Job] | None] = queue.SimpleQueue()
        self.capacity = workers if max_workers or executor is None else 64
        # A BaseException in place of a completion: a task let KeyboardInterrupt, SystemExit (...)
        # through; the driver re-raises it, as a serial run would.
        self._queue: queue.SimpleQueue[tuple[int, Completion | BaseException]] = queue.SimpleQueue()
        self._buffer: list[tuple[int, Completion | BaseException]] = []
        self._live: dict[int, Job] = {}
        self._deadlines: list[tuple[float, int]] = []
        self._seq = 0
        self._abandoned = False
        self._zombies: set[int] = set()
        """Abandoned jobs whose threads still run: they do not count against capacity."""

    @property
    def in_flight(self) -> int:
        return len(self._live)

    def submit(self, job: Job) -> None:
        self._seq += 1
        key = self._seq
        self._live[key] = job
        if job.timeout is not None:
            heapq.heappush(self._deadlines, (time.monotonic() + job.timeout, key))
        if job.is_async:
            # The coroutine enforces its own timeout by cancellation.
            future = self._loop_thread().submit(invoke_async(job))
            future.add_done_callback(lambda done: self._deliver(done, key, job))
        elif self._pool is not None:
            future = self._pool.submit(invoke, job, self._await)
            future.add_done_callback(lambda done: self._deliver(done, key, job))
        else:
            self._jobs.put((key, job))
            if len(self._threads) < len(self._live) + len(self._zombies):
                self._start_worker()

    def _start_worker(self) -> None:
        worker = threading.Thread(
            target=self._work, name=f"steadyflow-{len(self._threads)}", daemon=True
        )
        worker.start()
        self._threads.append(worker)

    def _work(self) -> None:
        """A worker thread: run jobs until the sentinel None arrives."""
        jobs = self._jobs
        done = self._queue
        while True:
            item = jobs.get()
            if item is None:
                return
            key, job = item
            try:
                completion = invoke(job, self._await)
            except BaseException as exc:  # handed to the driver; the thread lives on
                done.put((key, exc))
                continue
            done.put((key, completion))

    def _deliver(self, future: Future[Completion], key: int, job: Job) -> None:
        if future.cancelled():
            return  # only abandoned jobs are cancelled, when the executor closes
        error = future.exception()
        if error is None:
            self._queue.put((key, future.result()))
            return
        # Only a BaseException (SystemExit in a task, say) escapes invoke().
        self._queue.put((key, error))

    def take(self) -> list[Completion]:
        arrived = self._buffer
        self._buffer = []
        while True:
            try:
                arrived.append(self._queue.get_nowait())
            except queue.Empty:
                break
        live = self._live
        done: list[Completion] = []
        fatal: BaseException | None = None
        for key, completion in arrived:
            if live.pop(key, None) is None:
                self._zombies.discard(key)
            elif isinstance(completion, BaseException):
                fatal = fatal or completion
            else:
                done.append(completion)
        if fatal is not None:
            raise fatal
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
                self._zombies.add(key)
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

    def wake(self) -> None:
        # Key 0 names no job (keys start at 1): take() drops it like a zombie's completion.
        self._queue.put((0, _WAKE))

    def abandon(self) -> list[Job]:
        jobs = list(self._live.values())
        self._zombies.update(self._live)
        self._live.clear()
        self._deadlines.clear()
        self._abandoned = self._abandoned or bool(jobs)
        return jobs

    def close(self) -> None:
        self._close_loop()
        for _ in self._threads:
            self._jobs.put(None)
        if not self._abandoned:
            for worker in self._threads:
                worker.join()
        # An abandoned (timed out) thread is not waited for: it takes its sentinel
        # and ends once its task returns; it is a daemon, so it never blocks exit.
        self._threads = []

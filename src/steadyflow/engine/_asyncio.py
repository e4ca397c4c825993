"""Native asyncio execution: coroutines run as tasks on a loop, never on threads.

Two pieces live here:

- :class:`AsyncioExecutor` drives jobs from inside a running event loop (what
  ``engine.run_async()`` uses): an ``async def`` job becomes an
  :class:`asyncio.Task` of that loop, a synchronous job goes to a thread pool,
  and completions wake the engine through an :class:`asyncio.Event`.
- :class:`LoopThread` is a private event loop in a helper thread, which the
  synchronous executors use to run ``async def`` tasks of a synchronous run.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Coroutine
from concurrent.futures import Executor as FuturesExecutor
from concurrent.futures import Future
from typing import Any

from steadyflow.engine._executor import (
    Completion,
    Executor,
    Job,
    await_bounded,
    failed,
    invoke,
    invoke_async,
    timeout_failure,
)

__all__ = ["AsyncioExecutor", "LoopThread"]


class LoopThread:
    """An event loop running in a daemon thread of its own until :meth:`close`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="steadyflow-loop", daemon=True
        )
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, Completion]) -> Future[Completion]:
        """Schedule ``coro`` on the loop; thread-safe."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, job: Job) -> Completion:
        """Run an asynchronous job to its end, blocking the calling thread."""
        return self.submit(invoke_async(job)).result()

    def run(self, value: Awaitable[Any], job: Job) -> Any:
        """Run an awaitable a synchronous job returned; blocks the calling thread."""

        async def bounded() -> Any:
            return await await_bounded(value, job)

        return asyncio.run_coroutine_threadsafe(bounded(), self.loop).result()

    def close(self) -> None:
        """Cancel what still runs on the loop, stop it and join its thread."""
        if self.loop.is_closed():
            return

        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.get_running_loop().shutdown_asyncgens()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class AsyncioExecutor(Executor):
    """Runs jobs on the running event loop; synchronous ones on a thread pool.

    Args:
        max_workers: threads for synchronous tasks (default: 8, or the CPU
            count plus 4 when larger).
        executor: a ready ``concurrent.futures`` executor for synchronous
            tasks instead; it is not shut down by :meth:`close`.
        max_concurrency: how many jobs may be in flight at once (default 10,000).
    """

    def __init__(
        self,
        *,
        max_workers: int | None = None,
        executor: FuturesExecutor | None = None,
        max_concurrency: int | None = None,
    ) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, not {max_workers}")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, not {max_concurrency}")
        self.capacity = max_concurrency or 10_000
        self._workers = max_workers or max(8, (os.cpu_count() or 1) + 4)
        self._pool: FuturesExecutor | None = executor
        self._owned = executor is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._done: list[Completion] = []
        self._live: dict[int, tuple[Job, asyncio.Future[Any]]] = {}
        self._seq = 0
        self._fatal: BaseException | None = None

    @property
    def in_flight(self) -> int:
        # Completions not taken yet count: the driver must take them, not wait.
        return len(self._live) + len(self._done) + (self._fatal is not None)

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
            self._wakeup = asyncio.Event()
        return loop

    def submit(self, job: Job) -> None:
        loop = self._bind()
        self._seq += 1
        key = self._seq
        if job.is_async:
            future: asyncio.Future[Any] = loop.create_task(self._run_async(key, job))
        else:
            future = loop.create_task(self._run_sync(key, job, loop))
        self._live[key] = (job, future)

    async def _run_async(self, key: int, job: Job) -> None:
        try:
            completion = await invoke_async(job)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the task let a process-ending exception through
            self._abort(key, exc)
            return
        self._deliver(key, completion)

    def _abort(self, key: int, exc: BaseException) -> None:
        """Hand a KeyboardInterrupt, SystemExit (...) to the engine's driver, as inline runs do."""
        self._live.pop(key, None)
        if self._fatal is None:
            self._fatal = exc
        if self._wakeup is not None:
            self._wakeup.set()

    async def _run_sync(self, key: int, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        if self._pool is None:
            from steadyflow.engine._daemon_pool import DaemonPool

            self._pool = DaemonPool(self._workers)

        def await_on_loop(value: Awaitable[Any], job: Job) -> Any:
            async def bounded() -> Any:
                return await await_bounded(value, job)

            return asyncio.run_coroutine_threadsafe(bounded(), loop).result()

        try:
            if job.timeout is None:
                completion = await loop.run_in_executor(self._pool, invoke, job, await_on_loop)
            else:
                # The timeout counts from when a thread picks the job up, not
                # from when it was queued behind busy threads.
                started = asyncio.Event()

                def run() -> Completion:
                    loop.call_soon_threadsafe(started.set)
                    return invoke(job, await_on_loop)

                work = loop.run_in_executor(self._pool, run)
                await started.wait()
                async with asyncio.timeout(job.timeout):
                    completion = await work
        except TimeoutError:
            completion = failed(job, timeout_failure(job))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # only a BaseException in the task escapes invoke()
            self._abort(key, exc)
            return
        self._deliver(key, completion)

    def _deliver(self, key: int, completion: Completion) -> None:
        if self._live.pop(key, None) is None:
            return  # abandoned: the run stopped waiting for it
        self._done.append(completion)
        if self._wakeup is not None:
            self._wakeup.set()

    def take(self) -> list[Completion]:
        if self._fatal is not None:
            fatal, self._fatal = self._fatal, None
            raise fatal
        done, self._done = self._done, []
        return done

    def wait(self, timeout: float | None) -> None:
        raise RuntimeError("the asyncio executor is driven by run_async(), not run()")

    async def wait_async(self, timeout: float | None) -> None:  # noqa: ASYNC109
        wakeup = self._wakeup
        if self._done or self._fatal is not None:
            # Completions arrived while the driver's consumer was away: take them now.
            return
        if wakeup is None or not self._live:
            if timeout:
                await asyncio.sleep(timeout)
            return
        wakeup.clear()
        try:
            async with asyncio.timeout(timeout):
                await wakeup.wait()
        except TimeoutError:
            return

    async def nap(self, seconds: float) -> None:
        """Wait ``seconds`` (a backoff), or less if :meth:`wake` is called."""
        self._bind()
        wakeup = self._wakeup
        assert wakeup is not None
        wakeup.clear()
        try:
            async with asyncio.timeout(seconds):
                await wakeup.wait()
        except TimeoutError:
            return

    def wake(self) -> None:
        """End a :meth:`nap` early; safe from any thread."""
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wakeup.set)

    def abandon(self) -> list[Job]:
        jobs = []
        for job, future in self._live.values():
            future.cancel()
            jobs.append(job)
        self._live.clear()
        return jobs

    def close(self) -> None:
        for _, future in self._live.values():
            future.cancel()
        self._live.clear()
        if self._owned and self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

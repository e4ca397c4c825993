"""How atoms' work gets called: the seam between the engine loop and threads/loops.

The engine hands an executor :class:`Job` objects and later takes
:class:`Completion` objects back; it never calls a task itself. The serial
executor here calls each job inline; others run them on threads or an event
loop. Every executor captures a task's exception as a :class:`Failure`
in the completion, so the engine loop never sees a task's raise.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from steadyflow.context import AtomContext, _current
from steadyflow.errors import TaskTimeoutError
from steadyflow.failure import Failure

if TYPE_CHECKING:
    from steadyflow.engine._asyncio import LoopThread

__all__ = [
    "AwaitFn",
    "Completion",
    "Executor",
    "InlineExecutor",
    "Job",
    "invoke",
    "invoke_async",
    "timeout_failure",
]


class Job:
    """One call of an atom's ``execute`` or ``revert`` (or one element of a map).

    ``is_async`` says whether ``fn`` is a coroutine function (it runs on an
    event loop, not a thread); ``element`` is the element of a map node this
    job computes, or -1.
    """

    __slots__ = ("context", "element", "fn", "is_async", "kwargs", "node", "revert", "timeout")

    def __init__(
        self,
        node: int,
        revert: bool,
        fn: Callable[..., Any],
        kwargs: dict[str, Any],
        context: AtomContext,
        timeout: float | None = None,
        is_async: bool = False,
        element: int = -1,
    ) -> None:
        self.node = node
        self.revert = revert
        self.fn = fn
        self.kwargs = kwargs
        self.context = context
        self.timeout = timeout
        self.is_async = is_async
        self.element = element


class Completion:
    """The outcome of a job: ``value`` is the return value, or the Failure when not ok."""

    __slots__ = ("element", "node", "ok", "revert", "value")

    def __init__(self, node: int, revert: bool, ok: bool, value: Any, element: int = -1) -> None:
        self.node = node
        self.revert = revert
        self.ok = ok
        self.value = value
        self.element = element

    def __repr__(self) -> str:
        return f"<Completion node={self.node} revert={self.revert} ok={self.ok}>"


AwaitFn = Callable[[Awaitable[Any], Job], Any]
"""Runs an awaitable a synchronous job returned to its end, from a thread; returns its value."""


def _awaitable(value: Any) -> bool:
    """What ``inspect.isawaitable`` says, without importing inspect on the hot path."""
    return hasattr(type(value), "__await__")


def timeout_failure(job: Job) -> Failure:
    """The failure recorded for a job that outlived its timeout."""
    what = "revert" if job.revert else "execute"
    return Failure.from_exception(
        TaskTimeoutError(f"{job.context.atom_name} {what} did not finish within {job.timeout} s")
    )


def failed(job: Job, failure: Failure) -> Completion:
    """A failed completion of ``job``."""
    return Completion(job.node, job.revert, False, failure, job.element)


def _enter(context: AtomContext) -> list[Callable[[], None]]:
    """Run the listeners' hooks around an atom's code; one that raises is logged, skipped."""
    exits: list[Callable[[], None]] = []
    for enter in context._around or ():
        try:
            exits.append(enter())
        except Exception:
            _log_hook_error(enter)
    return exits


def _leave(exits: list[Callable[[], None]]) -> None:
    for leave in reversed(exits):
        try:
            leave()
        except Exception:
            _log_hook_error(leave)


def _log_hook_error(hook: Callable[..., Any]) -> None:
    import logging  # here, not at import: most runs never need it

    logging.getLogger("steadyflow.notifier").exception(
        "listener hook %r failed around an atom; the run goes on", hook
    )


def invoke(job: Job, await_fn: AwaitFn | None = None) -> Completion:
    """Call a synchronous job with its context set; never raises an ``Exception``.

    A function task may return a coroutine; ``await_fn`` runs it on an event
    loop (the executor's own, so ``asyncio.run`` is never nested).
    """
    token = _current.set(job.context)
    exits = None if job.context._around is None else _enter(job.context)
    try:
        value = job.fn(**job.kwargs)
        if _awaitable(value):
            if await_fn is None:
                raise TypeError(f"{job.context.atom_name} returned an awaitable; no loop runs it")
            value = await_fn(value, job)
    except Exception as exc:
        return failed(job, Failure.from_exception(exc))
    finally:
        if exits is not None:
            _leave(exits)
        _current.reset(token)
    return Completion(job.node, job.revert, True, value, job.element)


async def await_bounded(value: Awaitable[Any], job: Job) -> Any:
    """Await ``value``, cancelling it when the job's timeout passes."""
    if job.timeout is None:
        return await value
    import asyncio

    try:
        async with asyncio.timeout(job.timeout):
            return await value
    except TimeoutError:
        raise TaskTimeoutError(
            f"{job.context.atom_name} did not finish within {job.timeout} s"
        ) from None


async def invoke_async(job: Job) -> Completion:
    """Await an asynchronous job with its context set; never raises an ``Exception``.

    With a timeout, the job's coroutine is cancelled when it passes and the
    job fails with :class:`~steadyflow.errors.TaskTimeoutError`.
    """
    token = _current.set(job.context)
    exits = None if job.context._around is None else _enter(job.context)
    try:
        value = job.fn(**job.kwargs)
        if _awaitable(value):
            value = await await_bounded(value, job)
    except Exception as exc:
        return failed(job, Failure.from_exception(exc))
    finally:
        if exits is not None:
            _leave(exits)
        _current.reset(token)
    return Completion(job.node, job.revert, True, value, job.element)


class Executor(ABC):
    """Runs jobs and hands their completions back to the engine loop.

    ``capacity`` is how many jobs the engine should have in flight at once.
    """

    capacity: int = 1

    @property
    @abstractmethod
    def in_flight(self) -> int:
        """Jobs submitted whose completions were not taken yet."""

    @abstractmethod
    def submit(self, job: Job) -> None:
        """Start ``job``; its completion shows up in :meth:`take` later."""

    @abstractmethod
    def take(self) -> list[Completion]:
        """Completions that arrived since the last call (never blocks)."""

    @abstractmethod
    def wait(self, timeout: float | None) -> None:
        """Block until a completion is available or ``timeout`` seconds passed."""

    async def wait_async(self, timeout: float | None) -> None:  # noqa: ASYNC109
        """Like :meth:`wait`, for a loop driving the engine; blocks a thread by default."""
        import asyncio

        await asyncio.to_thread(self.wait, timeout)

    def abandon(self) -> list[Job]:
        """Stop waiting for every job in flight and return them (a run timed out).

        Asynchronous jobs are cancelled; a thread cannot be stopped, so a
        synchronous job keeps running until it returns and its result is dropped.
        """
        return []

    def wake(self) -> None:  # noqa: B027 - optional hook: an inline executor never waits
        """End a :meth:`wait` (or ``wait_async``) early; safe from any thread."""

    def close(self) -> None:  # noqa: B027 - optional hook, most executors hold nothing
        """Release threads or loops the executor owns."""


class ThreadedExecutor(Executor):
    """An executor whose jobs run on threads: async ones go to a private event loop.

    The loop runs in a helper thread started on first use, so async tasks work
    in a synchronous run, even one started inside a running loop.
    """

    _loop: LoopThread | None = None

    def _loop_thread(self) -> LoopThread:
        if self._loop is None:
            from steadyflow.engine._asyncio import LoopThread

            self._loop = LoopThread()
        return self._loop

    def _await(self, value: Awaitable[Any], job: Job) -> Any:
        """Run an awaitable a synchronous job returned, on the private loop."""
        return self._loop_thread().run(value, job)

    def _close_loop(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None


class InlineExecutor(ThreadedExecutor):
    """Calls each job at once in the engine's own thread: the serial engine.

    Asynchronous jobs run on a private event loop in a helper thread (started
    on first use), so a serial run works inside a running loop too. A
    synchronous job with a timeout runs on a helper thread, so that the run
    can give up on it when the timeout passes.
    """

    capacity = 1

    def __init__(self) -> None:
        self._done: list[Completion] = []

    @property
    def in_flight(self) -> int:
        return len(self._done)

    def submit(self, job: Job) -> None:
        if job.is_async:
            self._done.append(self._loop_thread().call(job))
        elif job.timeout is not None:
            self._done.append(self._bounded(job))
        else:
            self._done.append(invoke(job, self._await))

    def _bounded(self, job: Job) -> Completion:
        box: list[Completion] = []
        worker = threading.Thread(
            target=lambda: box.append(invoke(job, self._await)),
            name=f"steadyflow-{job.context.atom_name}",
            daemon=True,
        )
        worker.start()
        worker.join(job.timeout)
        if box:
            return box[0]
        return failed(job, timeout_failure(job))

    def take(self) -> list[Completion]:
        done, self._done = self._done, []
        return done

    def wait(self, timeout: float | None) -> None:
        return None

    def close(self) -> None:
        self._close_loop()

"""How atoms' work gets called: the seam between the engine loop and threads/loops.

The engine hands an executor :class:`Job` objects and later takes
:class:`Completion` objects back; it never calls a task itself. The serial
executor here calls each job inline; others run them on threads or an event
loop. Every executor captures a task's exception as a :class:`Failure`
in the completion, so the engine loop never sees a task's raise.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from steadyflow.context import AtomContext, _current
from steadyflow.errors import TaskTimeoutError
from steadyflow.failure import Failure

__all__ = ["Completion", "Executor", "InlineExecutor", "Job", "invoke"]


@dataclass(slots=True)
class Job:
    """One call of an atom's ``execute`` or ``revert``."""

    node: int
    revert: bool
    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    context: AtomContext
    timeout: float | None = None


@dataclass(slots=True)
class Completion:
    """The outcome of a job: ``value`` is the return value, or the Failure when not ok."""

    node: int
    revert: bool
    ok: bool
    value: Any


def invoke(job: Job) -> Completion:
    """Call a synchronous job with its context set; never raises an ``Exception``."""
    token = _current.set(job.context)
    try:
        value = job.fn(**job.kwargs)
        if inspect.isawaitable(value):
            value = _run_awaitable(value, job)
    except Exception as exc:
        return Completion(job.node, job.revert, False, Failure.from_exception(exc))
    finally:
        _current.reset(token)
    return Completion(job.node, job.revert, True, value)


def _run_awaitable(value: Any, job: Job) -> Any:
    """Run a coroutine returned by a function task on a private loop of this thread."""

    import asyncio

    async def bounded() -> Any:
        if job.timeout is None:
            return await value
        try:
            return await asyncio.wait_for(value, job.timeout)
        except TimeoutError:
            raise TaskTimeoutError(
                f"{job.context.atom_name} did not finish within {job.timeout} s"
            ) from None

    return asyncio.run(bounded())


async def invoke_async(job: Job) -> Completion:
    """Await an asynchronous job with its context set; never raises an ``Exception``."""
    import asyncio

    token = _current.set(job.context)
    try:
        value = job.fn(**job.kwargs)
        if inspect.isawaitable(value):
            if job.timeout is None:
                value = await value
            else:
                value = await asyncio.wait_for(value, job.timeout)
    except TimeoutError as exc:
        if isinstance(exc, TaskTimeoutError):
            failure = Failure.from_exception(exc)
        else:
            failure = Failure.from_exception(
                TaskTimeoutError(f"{job.context.atom_name} did not finish within {job.timeout} s")
            )
        return Completion(job.node, job.revert, False, failure)
    except Exception as exc:
        return Completion(job.node, job.revert, False, Failure.from_exception(exc))
    finally:
        _current.reset(token)
    return Completion(job.node, job.revert, True, value)


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

    def close(self) -> None:  # noqa: B027 - optional hook, most executors hold nothing
        """Release threads or loops the executor owns."""


class InlineExecutor(Executor):
    """Calls each job at once in the engine's own thread: the serial engine."""

    capacity = 1

    def __init__(self) -> None:
        self._done: list[Completion] = []

    @property
    def in_flight(self) -> int:
        return len(self._done)

    def submit(self, job: Job) -> None:
        self._done.append(invoke(job))

    def take(self) -> list[Completion]:
        done, self._done = self._done, []
        return done

    def wait(self, timeout: float | None) -> None:
        return None

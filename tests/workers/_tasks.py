"""Tasks the workers tests send to worker processes (imported there by module name).

Tasks with side effects append one line per call to the file named by
``SF_TEST_LOG`` (``<event> <idempotency key> <pid> <time>``): the tests check
invariants from these lines, not from what the engine says.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import steadyflow as sf


def _log(event: str) -> None:
    path = os.environ.get("SF_TEST_LOG")
    if not path:
        return
    key = sf.current_context().idempotency_key
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"{event} {key} {os.getpid()} {time.time():.6f}\n")
        log.flush()
        os.fsync(log.fileno())


@sf.task
def noop() -> None:
    return None


@sf.task(provides="sum")
def add(x: int, y: int) -> int:
    return x + y


@sf.task
def sleep_ms(ms: float) -> None:
    time.sleep(ms / 1000)


@sf.task
def whoami() -> int:
    return os.getpid()


@sf.task(provides="slow")
def slow(seconds: float) -> str:
    """Logs its start, sleeps, logs its end: the tests kill workers in between."""
    _log("start")
    time.sleep(seconds)
    _log("end")
    return f"{os.getpid()}:{time.time_ns()}"


def _undo(x: int, *, result: Any) -> None:
    _log(f"revert:{result}")


@sf.task(provides="made", revert=_undo)
def make(x: int) -> int:
    _log("make")
    return x * 10


@sf.task
def explode(made: int) -> None:
    try:
        raise KeyError("inner")
    except KeyError as exc:
        raise RuntimeError(f"boom after {made}") from exc


@sf.task
def progress() -> str:
    for step in (0.25, 0.5, 1.0):
        sf.current_context().report_progress(step)
        time.sleep(0.05)
    return "done"


@sf.task(provides="async_sum")
async def async_add(x: int, y: int) -> int:
    await asyncio.sleep(0.01)
    return x + y


@sf.task(provides="square")
def square(item: int) -> int:
    return item * item


@sf.task
def unpicklable() -> object:
    return object()


class Greet(sf.Task):
    """A class-based task: the worker builds its own instance."""

    def execute(self, who: str) -> str:
        return f"hello {who}"


not_on_worker = sf.task(lambda: 1, name="not_on_worker")

"""Fixtures of the conductor tests: a log file the tasks write, and conductors on threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from steadyflow.conductors import Conductor
from steadyflow.jobs.memory import MemoryBoard
from steadyflow.persistence import Backend, open_backend

FACTORY = "conductors._flows:chain"


@pytest.fixture
def log(tmp_path: Path) -> str:
    """The file the tasks append their effects to."""
    return str(tmp_path / "effects.log")


@pytest.fixture
def board() -> Iterator[MemoryBoard]:
    with MemoryBoard("conductor-tests") as opened:
        yield opened


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Backend]:
    """A SQLite store, as a conductor farm would use (a file another process could open)."""
    with open_backend(f"sqlite:///{tmp_path}/flows.db") as opened:
        yield opened


class Running:
    """A conductor running on a thread; :meth:`stop` stops it and waits."""

    def __init__(self, conductor: Conductor, **run_options: Any) -> None:
        self.conductor = conductor
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, kwargs=run_options, daemon=True)
        self.thread.start()

    def _run(self, **run_options: Any) -> None:
        try:
            self.conductor.run(handle_signals=False, **run_options)
        except BaseException as exc:  # reported by stop(): a thread's error must fail the test
            self.error = exc

    def stop(self, timeout: float = 30) -> float:
        """Stop the conductor; return the seconds it took to return."""
        began = time.monotonic()
        self.conductor.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the conductor did not stop"
        if self.error is not None:
            raise self.error
        return time.monotonic() - began


@pytest.fixture
def start() -> Iterator[Callable[..., Running]]:
    """Start a conductor on a thread (stopped at the end of the test)."""
    started: list[Running] = []

    def starter(conductor: Conductor, **run_options: Any) -> Running:
        running = Running(conductor, **run_options)
        started.append(running)
        return running

    yield starter
    for running in started:
        if running.thread.is_alive():
            running.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {condition}")
        time.sleep(0.01)

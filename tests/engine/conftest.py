"""Fixtures of the engine tests: a fake clock and a recording task."""

from __future__ import annotations

from typing import Any

import pytest

import steadyflow as sf
from steadyflow.engine import Clock


class FakeClock(Clock):
    """Time that moves only when the engine sleeps: backoff waits cost nothing."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Recorder:
    """A shared, ordered log of what tasks did."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def __call__(self, what: str, name: str) -> None:
        self.log.append((what, name))

    def names(self, what: str) -> list[str]:
        return [name for kind, name in self.log if kind == what]


class Step(sf.Task):
    """Records execute and revert; fails when told to."""

    def __init__(self, name: str, recorder: Recorder, *, fail: bool = False, **options: Any):
        super().__init__(name, **options)
        self.recorder = recorder
        self.fail = fail

    def execute(self) -> None:
        self.recorder("execute", self.name)
        if self.fail:
            raise ValueError(f"{self.name} failed")

    def revert(self, **kwargs: Any) -> None:
        self.recorder("revert", self.name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()

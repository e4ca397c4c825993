"""The tasks steadyflow's workers run in the workers benchmark (imported by name there)."""

from __future__ import annotations

import time

import steadyflow as sf


@sf.task
def noop() -> None:
    return None


@sf.task
def sleep10ms() -> None:
    time.sleep(0.01)

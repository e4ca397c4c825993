"""The tasks TaskFlow's workers run in the workers benchmark (imported by name there)."""

from __future__ import annotations

import time

from taskflow import task


class Noop(task.Task):  # type: ignore[misc]
    def execute(self) -> None:
        return None


class Sleep10ms(task.Task):  # type: ignore[misc]
    def execute(self) -> None:
        time.sleep(0.01)

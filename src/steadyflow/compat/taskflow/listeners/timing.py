"""TaskFlow's ``DurationListener`` and ``PrintingDurationListener``: how long things took."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from steadyflow.compat.taskflow.listeners.base import Listener

__all__ = ["DurationListener", "PrintingDurationListener"]

_FINISHED = frozenset({"SUCCESS", "FAILURE", "REVERTED"})


class DurationListener(Listener):
    """Times every atom and the flow; :attr:`durations` holds the seconds by name."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self._started: dict[tuple[str, str], float] = {}
        self.durations: dict[str, float] = {}

    def _flow_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        self._receive("flow", details["flow_name"], state)

    def _task_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        self._receive("task", details["task_name"], state)

    def _retry_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        self._receive("retry", details["retry_name"], state)

    def _receive(self, kind: str, name: str, state: str) -> None:
        key = (kind, name)
        if state == "RUNNING":
            self._started[key] = time.perf_counter()
            self._on_started(kind, name)
            return
        if state in _FINISHED and key in self._started:
            elapsed = time.perf_counter() - self._started.pop(key)
            self.durations[name] = elapsed
            self._on_finished(kind, name, elapsed)

    def _on_started(self, kind: str, name: str) -> None:
        return None

    def _on_finished(self, kind: str, name: str, elapsed: float) -> None:
        return None


class PrintingDurationListener(DurationListener):
    """Prints when each flow and atom starts and how long it took."""

    def __init__(self, engine: Any, printer: Callable[[str], Any] | None = None) -> None:
        super().__init__(engine)
        self._printer = printer if printer is not None else print

    def _on_started(self, kind: str, name: str) -> None:
        self._printer(f"'{name}' {kind} started.")

    def _on_finished(self, kind: str, name: str, elapsed: float) -> None:
        self._printer(f"It took {kind} '{name}' {elapsed:0.2f} seconds to finish.")

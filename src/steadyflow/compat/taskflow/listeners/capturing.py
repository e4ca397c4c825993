"""TaskFlow's ``CaptureListener``: keeps every transition it sees, for tests and tools."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from steadyflow.compat.taskflow.listeners.base import DEFAULT_LISTEN_FOR, Listener

__all__ = ["CaptureListener"]


class CaptureListener(Listener):
    """Appends ``(kind, state, details)`` to :attr:`values` for each transition."""

    FLOW = "flow"
    TASK = "task"
    RETRY = "retry"

    def __init__(
        self,
        engine: Any,
        task_listen_for: Any = DEFAULT_LISTEN_FOR,
        flow_listen_for: Any = DEFAULT_LISTEN_FOR,
        retry_listen_for: Any = DEFAULT_LISTEN_FOR,
        capture_flow: bool = True,
        capture_task: bool = True,
        capture_retry: bool = True,
        skip_tasks: Iterable[str] | None = None,
        skip_retries: Iterable[str] | None = None,
        skip_flows: Iterable[str] | None = None,
        values: list[Any] | None = None,
    ) -> None:
        super().__init__(engine, task_listen_for, flow_listen_for, retry_listen_for)
        self._capture = {self.FLOW: capture_flow, self.TASK: capture_task}
        self._capture[self.RETRY] = capture_retry
        self._skip = {
            self.TASK: frozenset(skip_tasks or ()),
            self.RETRY: frozenset(skip_retries or ()),
            self.FLOW: frozenset(skip_flows or ()),
        }
        self.values: list[Any] = values if values is not None else []

    def _capture_one(self, kind: str, name: str, state: str, details: Mapping[str, Any]) -> None:
        if self._capture[kind] and name not in self._skip[kind]:
            self.values.append((kind, state, dict(details)))

    def _flow_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        self._capture_one(self.FLOW, details["flow_name"], state, details)

    def _task_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        self._capture_one(self.TASK, details["task_name"], state, details)

    def _retry_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        self._capture_one(self.RETRY, details["retry_name"], state, details)

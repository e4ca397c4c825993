"""TaskFlow's ``LoggingListener`` and ``DynamicLoggingListener``: transitions to a logger."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from steadyflow.compat.taskflow.listeners.base import (
    DEFAULT_LISTEN_FOR,
    DumpingListener,
    Listener,
)

__all__ = ["DynamicLoggingListener", "LoggingListener"]

_DEFAULT_LOG = logging.getLogger("taskflow.listeners.logging")
_FAILED = frozenset({"FAILURE", "REVERTED", "REVERT_FAILURE"})


class LoggingListener(DumpingListener):
    """Logs each transition at one ``level`` to ``log``."""

    def __init__(
        self,
        engine: Any,
        task_listen_for: Any = DEFAULT_LISTEN_FOR,
        flow_listen_for: Any = DEFAULT_LISTEN_FOR,
        retry_listen_for: Any = DEFAULT_LISTEN_FOR,
        log: logging.Logger | None = None,
        level: int = logging.DEBUG,
    ) -> None:
        super().__init__(engine, task_listen_for, flow_listen_for, retry_listen_for)
        self._logger = log if log is not None else _DEFAULT_LOG
        self._level = level

    def _dump(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._logger.log(self._level, message, *args, **kwargs)


class DynamicLoggingListener(Listener):
    """Logs transitions at ``level``, failures and reverts at ``failure_level``."""

    def __init__(
        self,
        engine: Any,
        task_listen_for: Any = DEFAULT_LISTEN_FOR,
        flow_listen_for: Any = DEFAULT_LISTEN_FOR,
        retry_listen_for: Any = DEFAULT_LISTEN_FOR,
        log: logging.Logger | None = None,
        failure_level: int = logging.WARNING,
        level: int = logging.DEBUG,
        hide_inner_exception: bool = False,
        fail_formatter: Any = None,
    ) -> None:
        super().__init__(engine, task_listen_for, flow_listen_for, retry_listen_for)
        self._logger = log if log is not None else _DEFAULT_LOG
        self._failure_level = failure_level
        self._level = level
        self._hide_inner_exception = hide_inner_exception

    def _flow_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        level = self._failure_level if state in ("FAILURE", "REVERTED") else self._level
        self._logger.log(
            level,
            "Flow '%s' (%s) transitioned into state '%s' from state '%s'",
            details["flow_name"],
            details["flow_uuid"],
            state,
            details["old_state"],
        )

    # As in TaskFlow, retry controllers' transitions are not logged.
    def _task_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        from steadyflow.compat.taskflow.types.failure import Failure

        message = "Task '%s' (%s) transitioned into state '%s' from state '%s'"
        args: list[Any] = [details["task_name"], details["task_uuid"], state]
        args.append(details["old_state"])
        level = self._failure_level if state in _FAILED else self._level
        result = details.get("result")
        if isinstance(result, Failure):
            exc_info = None if self._hide_inner_exception else result.exc_info
            self._logger.log(level, message, *args, exc_info=exc_info)
            return
        if "result" in details:
            message += " with result '%s'"
            args.append(result)
        self._logger.log(level, message, *args)

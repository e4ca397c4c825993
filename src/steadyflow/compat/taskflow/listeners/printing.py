"""TaskFlow's ``PrintingListener``: one printed line per transition."""

from __future__ import annotations

import sys
import traceback
from typing import Any

from steadyflow.compat.taskflow.listeners.base import DEFAULT_LISTEN_FOR, DumpingListener

__all__ = ["PrintingListener"]


class PrintingListener(DumpingListener):
    """Prints each transition, and the traceback of a failure, to stdout (or stderr)."""

    def __init__(
        self,
        engine: Any,
        task_listen_for: Any = DEFAULT_LISTEN_FOR,
        flow_listen_for: Any = DEFAULT_LISTEN_FOR,
        retry_listen_for: Any = DEFAULT_LISTEN_FOR,
        stderr: bool = False,
    ) -> None:
        super().__init__(engine, task_listen_for, flow_listen_for, retry_listen_for)
        self._stream = sys.stderr if stderr else sys.stdout

    def _dump(self, message: str, *args: Any, **kwargs: Any) -> None:
        print(message % args, file=self._stream)
        exc_info = kwargs.get("exc_info")
        if exc_info and exc_info[1] is not None:
            traceback.print_exception(exc_info[1], file=self._stream)

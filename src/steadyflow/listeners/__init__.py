"""Listeners observe an engine's transitions: logging, printing, capturing, timing."""

from typing import TYPE_CHECKING, Any

from steadyflow.listeners.base import Listener
from steadyflow.listeners.capturing import CapturingListener
from steadyflow.listeners.printing import PrintingListener
from steadyflow.listeners.timing import TimingListener

if TYPE_CHECKING:
    from steadyflow.listeners.logging import LoggingListener

__all__ = [
    "CapturingListener",
    "Listener",
    "LoggingListener",
    "PrintingListener",
    "TimingListener",
]


def __getattr__(name: str) -> Any:
    # The logging module costs more to import than all of steadyflow's core:
    # load it when a LoggingListener is first asked for.
    if name == "LoggingListener":
        from steadyflow.listeners.logging import LoggingListener

        return LoggingListener
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

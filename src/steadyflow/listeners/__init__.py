"""Listeners observe an engine's transitions: logging, printing, capturing, timing."""

from steadyflow.listeners.base import Listener
from steadyflow.listeners.capturing import CapturingListener
from steadyflow.listeners.logging import LoggingListener
from steadyflow.listeners.printing import PrintingListener
from steadyflow.listeners.timing import TimingListener

__all__ = [
    "CapturingListener",
    "Listener",
    "LoggingListener",
    "PrintingListener",
    "TimingListener",
]

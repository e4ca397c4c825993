"""Listeners observe an engine's transitions: logging, printing, capturing, timing, tracing."""

from typing import TYPE_CHECKING, Any

from steadyflow.listeners.base import Listener
from steadyflow.listeners.capturing import CapturingListener
from steadyflow.listeners.printing import PrintingListener
from steadyflow.listeners.timing import TimingListener

if TYPE_CHECKING:
    from steadyflow.listeners.logging import LoggingListener
    from steadyflow.listeners.otel import OpenTelemetryListener

__all__ = [
    "CapturingListener",
    "Listener",
    "LoggingListener",
    "OpenTelemetryListener",
    "PrintingListener",
    "TimingListener",
]


def __getattr__(name: str) -> Any:
    # The logging module costs more to import than all of steadyflow's core:
    # load it when a LoggingListener is first asked for.
    if name == "LoggingListener":
        from steadyflow.listeners.logging import LoggingListener

        return LoggingListener
    if name == "OpenTelemetryListener":
        return _load_otel()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _load_otel() -> Any:
    # OpenTelemetry is an extra: without it, say which one to install.
    try:
        from steadyflow.listeners.otel import OpenTelemetryListener
    except ImportError as exc:
        if not (exc.name or "opentelemetry").startswith("opentelemetry"):
            raise
        raise ImportError(
            "OpenTelemetryListener needs the OpenTelemetry API "
            f"({exc.name or 'opentelemetry'} is missing): pip install 'steadyflow[otel]'",
            name=exc.name,
        ) from exc
    return OpenTelemetryListener

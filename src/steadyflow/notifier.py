"""Fan-out of engine events to callbacks that can never break a run."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from steadyflow.events import Event

__all__ = ["Callback", "Notifier"]


Callback = Callable[[Event, Mapping[str, Any]], None]


class Notifier:
    """Holds callbacks per event and calls them; a callback that raises is logged.

    Registering is thread-safe. The engine checks :attr:`active` before
    building any event, so a run nobody watches pays nothing for events.
    """

    def __init__(self) -> None:
        self._callbacks: dict[Event, list[Callback]] = {}
        self._lock = threading.Lock()
        self.active = False

    def register(self, event: Event | str, callback: Callback) -> None:
        """Call ``callback(event, details)`` on ``event`` (or every event, for ANY).

        Raises:
            ValueError: ``event`` is not one of :class:`~steadyflow.events.Event`.
            TypeError: ``callback`` is not callable.
        """
        kind = Event(event)
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {callback!r}")
        with self._lock:
            self._callbacks = {**self._callbacks, kind: [*self._callbacks.get(kind, []), callback]}
            self.active = True

    def unregister(self, event: Event | str, callback: Callback) -> None:
        """Stop calling ``callback`` on ``event``; unknown pairs are ignored."""
        kind = Event(event)
        with self._lock:
            remaining = [cb for cb in self._callbacks.get(kind, []) if cb != callback]
            callbacks = {**self._callbacks, kind: remaining}
            self._callbacks = {k: v for k, v in callbacks.items() if v}
            self.active = bool(self._callbacks)

    def is_registered(self, event: Event | str, callback: Callback) -> bool:
        """Whether ``callback`` is registered for ``event``."""
        return callback in self._callbacks.get(Event(event), [])

    def notify(self, event: Event, details: Mapping[str, Any]) -> None:
        """Call every callback for ``event`` and for ANY; log, never raise, their errors."""
        callbacks = self._callbacks
        for callback in (*callbacks.get(event, ()), *callbacks.get(Event.ANY, ())):
            try:
                callback(event, details)
            except Exception:
                import logging  # here, not at import: most runs never need it

                logging.getLogger("steadyflow.notifier").exception(
                    "listener %r failed on %s; the run goes on", callback, event
                )

"""TaskFlow's ``Notifier`` (``taskflow.types.notifier``): callbacks per event type.

Unlike steadyflow's engine notifier (a fixed set of events), TaskFlow's takes
any event name; the engine's flow and atom notifiers are instances of this
class fed from steadyflow's events by ``engines/action_engine/_events.py``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["Listener", "Notifier", "RestrictedNotifier"]

_LOG = logging.getLogger("taskflow.types.notifier")


class Listener:
    """One registered callback, with its optional details filter and extra kwargs."""

    def __init__(
        self,
        callback: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        details_filter: Callable[[Any], bool] | None = None,
    ) -> None:
        self.callback = callback
        self.args = args
        self.kwargs = dict(kwargs or {})
        self.details_filter = details_filter

    def __call__(self, event_type: Any, details: Any) -> None:
        if self.details_filter is not None and not self.details_filter(details):
            return
        self.callback(event_type, *self.args, details=details, **self.kwargs)

    def is_equivalent(
        self, callback: Callable[..., Any], details_filter: Callable[[Any], bool] | None = None
    ) -> bool:
        """Whether this wraps ``callback`` (with ``details_filter``)."""
        if self.callback != callback:
            return False
        return details_filter is None or self.details_filter == details_filter

    def __repr__(self) -> str:
        return f"<Listener {self.callback!r}>"


class Notifier:
    """Calls the callbacks registered for an event type (or for :attr:`ANY`)."""

    ANY = "*"
    """Register for this to receive every event type."""

    _DISALLOWED: frozenset[Any] = frozenset()

    def __init__(self) -> None:
        self._topics: dict[Any, list[Listener]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(listeners) for listeners in self._topics.values())

    def is_registered(
        self,
        event_type: Any,
        callback: Callable[..., Any],
        details_filter: Callable[[Any], bool] | None = None,
    ) -> bool:
        """Whether ``callback`` is registered for ``event_type``."""
        return any(
            listener.is_equivalent(callback, details_filter)
            for listener in self._topics.get(event_type, ())
        )

    def register(
        self,
        event_type: Any,
        callback: Callable[..., Any],
        args: tuple[Any, ...] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        details_filter: Callable[[Any], bool] | None = None,
    ) -> None:
        """Call ``callback(event_type, details=...)`` for ``event_type``.

        Raises:
            ValueError: ``callback`` is not callable, is already registered, or
                ``event_type`` may not be registered for.
        """
        if not callable(callback):
            raise ValueError("Event callback must be callable")
        if event_type in self._DISALLOWED:
            raise ValueError(f"Disallowed event type {event_type!r}")
        if self.is_registered(event_type, callback, details_filter):
            raise ValueError(f"Event callback already registered for {event_type!r}")
        listener = Listener(callback, tuple(args or ()), kwargs, details_filter)
        with self._lock:
            self._topics.setdefault(event_type, []).append(listener)

    def deregister(
        self,
        event_type: Any,
        callback: Callable[..., Any],
        details_filter: Callable[[Any], bool] | None = None,
    ) -> bool:
        """Stop calling ``callback`` for ``event_type``; whether it was registered."""
        with self._lock:
            listeners = self._topics.get(event_type, [])
            for index, listener in enumerate(listeners):
                if listener.is_equivalent(callback, details_filter):
                    del listeners[index]
                    if not listeners:
                        del self._topics[event_type]
                    return True
        return False

    unregister = deregister

    def deregister_event(self, event_type: Any) -> int:
        """Forget every callback of ``event_type``; how many there were."""
        with self._lock:
            return len(self._topics.pop(event_type, []))

    def reset(self) -> None:
        """Forget every callback."""
        with self._lock:
            self._topics.clear()

    def can_be_registered(self, event_type: Any) -> bool:
        """Whether callbacks may be registered for ``event_type``."""
        return event_type not in self._DISALLOWED

    def can_trigger_notification(self, event_type: Any) -> bool:
        """Whether ``event_type`` may be notified (ANY is only for registering)."""
        return bool(event_type != self.ANY)

    def listeners_iter(self) -> Iterator[tuple[Any, list[Listener]]]:
        """``(event_type, listeners)`` pairs."""
        yield from list(self._topics.items())

    @property
    def watching(self) -> bool:
        """Whether anyone is registered (the engine skips building events otherwise)."""
        return bool(self._topics)

    def notify(self, event_type: Any, details: Any) -> None:
        """Call the callbacks of ANY, then those of ``event_type``; log, never raise, errors."""
        if not self.can_trigger_notification(event_type):
            return
        topics = self._topics
        listeners = [*topics.get(self.ANY, ()), *topics.get(event_type, ())]
        for listener in listeners:
            try:
                listener(event_type, details)
            except Exception:
                _LOG.warning(
                    "Failure calling listener %s to notify about event %s",
                    listener,
                    event_type,
                    exc_info=True,
                )


class RestrictedNotifier(Notifier):
    """A notifier that only accepts the event types it was built with (and ANY)."""

    def __init__(self, watchable_events: Any, allow_any: bool = True) -> None:
        super().__init__()
        self._watchable = frozenset(watchable_events)
        self._allow_any = allow_any

    def can_be_registered(self, event_type: Any) -> bool:
        if event_type == self.ANY:
            return self._allow_any
        return bool(event_type in self._watchable)

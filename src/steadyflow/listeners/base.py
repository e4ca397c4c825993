"""The base listener: hooks for flow, atom and progress events, usable as a context manager."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from steadyflow.events import Event

if TYPE_CHECKING:
    from steadyflow.engine.engine import Engine

__all__ = ["Listener"]


class Listener:
    """Observes one engine; override the ``on_*`` hooks you need.

    Use it around a run::

        with CapturingListener(engine) as capture:
            engine.run()

    Listeners only observe: they never change a run, and one that raises is
    logged by the engine's notifier and otherwise ignored.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._registered = False

    def register(self) -> None:
        """Start receiving the engine's events (idempotent)."""
        if not self._registered:
            self.engine.notifier.register(Event.ANY, self._dispatch)
            self._registered = True

    def deregister(self) -> None:
        """Stop receiving events (idempotent)."""
        if self._registered:
            self.engine.notifier.unregister(Event.ANY, self._dispatch)
            self._registered = False

    def __enter__(self) -> Self:
        self.register()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.deregister()

    def _dispatch(self, event: Event, details: Mapping[str, Any]) -> None:
        if event is Event.ATOM_STATE:
            self.on_atom_state(details)
        elif event is Event.FLOW_STATE:
            self.on_flow_state(details)
        elif event is Event.ATOM_PROGRESS:
            self.on_progress(details)
        elif event is Event.ELEMENT_STATE:
            self.on_element_state(details)

    def on_flow_state(self, details: Mapping[str, Any]) -> None:
        """The flow changed state; ``details["state"]`` is the new one."""

    def on_atom_state(self, details: Mapping[str, Any]) -> None:
        """A task or retry controller changed state."""

    def on_element_state(self, details: Mapping[str, Any]) -> None:
        """An element of a map atom changed state (``details["element"]`` is its index)."""

    def on_progress(self, details: Mapping[str, Any]) -> None:
        """A task reported progress (``details["progress"]``, 0.0 to 1.0)."""

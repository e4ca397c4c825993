"""A listener that records every transition: the handy one in tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from steadyflow.listeners.base import Listener

if TYPE_CHECKING:
    from steadyflow.engine.engine import Engine

__all__ = ["CapturingListener"]


class CapturingListener(Listener):
    """Records transitions as ``(kind, name, state)`` tuples, in order.

    ``kind`` is ``"flow"``, ``"task"`` or ``"retry"``. :attr:`progress`
    holds ``(atom name, fraction)`` pairs and :attr:`details` every event's
    full details, in the same order as :attr:`events`.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.events: list[tuple[str, str, str]] = []
        self.progress: list[tuple[str, float]] = []
        self.details: list[Mapping[str, Any]] = []

    def on_flow_state(self, details: Mapping[str, Any]) -> None:
        self.events.append(("flow", details["flow_name"], str(details["state"])))
        self.details.append(details)

    def on_atom_state(self, details: Mapping[str, Any]) -> None:
        self.events.append((details["atom_kind"], details["atom_name"], str(details["state"])))
        self.details.append(details)

    def on_progress(self, details: Mapping[str, Any]) -> None:
        self.progress.append((details["atom_name"], details["progress"]))

    def states_of(self, name: str) -> list[str]:
        """The states the flow or atom called ``name`` went through, in order."""
        return [state for _, who, state in self.events if who == name]

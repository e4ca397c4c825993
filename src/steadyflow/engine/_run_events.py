"""What a run tells its listeners: the events :class:`~steadyflow.engine._machine.Machine` queues.

Kept apart from the loop so that the loop reads as scheduling and reverting
only. Events are queued during a round and delivered at its end
(:meth:`RunEvents._emit`), on the engine's thread; progress reported from a
task's thread is delivered at once and recorded by the engine's next round.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from steadyflow.events import Event
from steadyflow.states import AtomState, FlowState

if TYPE_CHECKING:
    from steadyflow.engine._plan import Node, Plan
    from steadyflow.engine._storage import Storage
    from steadyflow.notifier import Notifier

__all__ = ["RunEvents"]


class RunEvents:
    """Event building for a run; the machine provides the state it reads."""

    plan: Plan
    nodes: tuple[Node, ...]
    storage: Storage
    notifier: Notifier
    events: list[tuple[Event, dict[str, Any]]]
    started: list[float]
    thread: int
    progress_inbox: deque[tuple[int, float]]

    def _set_flow(self, state: FlowState) -> None:
        old = self.storage.set_flow_state(state)
        if self.notifier.active and old is not state:
            self.events.append(
                (Event.FLOW_STATE, {**self._base_details(), "state": state, "old_state": old})
            )

    def _base_details(self) -> dict[str, Any]:
        return {
            "flow_name": self.plan.flow_name,
            "flow_id": self.storage.flow_id,
            "timestamp": time.time(),
        }

    def _atom_event(self, index: int, state: AtomState, old: AtomState, **extra: Any) -> None:
        node = self.nodes[index]
        details = self._base_details()
        attempt = max(1, self.storage.attempts[index])
        details.update(
            atom_name=node.name,
            atom_kind="retry" if node.is_retry else "task",
            state=state,
            old_state=old,
            attempt=attempt,
            idempotency_key=f"{details['flow_id']}:{node.name}:{attempt}",
            **extra,
        )
        self.events.append((Event.ATOM_STATE, details))

    def element_event(
        self, index: int, element: int, attempt: int, state: AtomState, old: str, **extra: Any
    ) -> None:
        """Queue a map element's transition (callers check ``notifier.active`` first)."""
        name = self.nodes[index].name
        details = self._base_details()
        attempt = max(1, attempt)
        details.update(
            atom_name=name,
            atom_kind="task",
            element=element,
            state=state,
            old_state=AtomState(old),
            attempt=attempt,
            idempotency_key=f"{details['flow_id']}:{name}[{element}]:{attempt}",
            **extra,
        )
        self.events.append((Event.ELEMENT_STATE, details))

    def _elapsed(self, index: int) -> float:
        started = self.started[index]
        return time.perf_counter() - started if started else 0.0

    def _progress(self, index: int, fraction: float) -> None:
        if threading.get_ident() == self.thread:
            self.storage.update_meta(index, progress=fraction)
        else:
            # Storage belongs to the engine's thread: it records this in its next round.
            self.progress_inbox.append((index, fraction))
        if self.notifier.active:
            details = self._base_details()
            details.update(atom_name=self.nodes[index].name, progress=fraction)
            self.notifier.notify(Event.ATOM_PROGRESS, details)

    def _emit(self) -> None:
        if not self.events:
            return
        events, self.events = self.events, []
        for event, details in events:
            self.notifier.notify(event, details)

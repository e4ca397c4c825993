"""steadyflow's engine events, told to TaskFlow's notifiers the way TaskFlow tells them.

Three differences are smoothed here: TaskFlow announces the PENDING reset of
every atom a retry controller is about to run again (steadyflow resets them
silently); it reports a failed flow going straight from RUNNING to REVERTED
(steadyflow passes through REVERTING); and its details name atoms
``task_name``/``retry_name`` with uuids, failures as TaskFlow's ``Failure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import steadyflow as sf
from steadyflow.compat.taskflow.types.failure import Failure

if TYPE_CHECKING:
    from steadyflow.compat.taskflow.engines.action_engine.engine import ActionEngine

__all__ = ["EventTranslator"]

_WITH_RESULT = frozenset({"SUCCESS", "FAILURE", "REVERTED", "REVERT_FAILURE"})
_SILENT_FLOW_STATES = frozenset({"REVERTING", "SUSPENDING", "RESUMING"})


class EventTranslator:
    """Receives steadyflow events for one engine and notifies its TaskFlow notifiers."""

    def __init__(self, engine: ActionEngine) -> None:
        self.engine = engine
        self.atom_states: dict[str, str] = {}
        self.flow_state = "PENDING"
        self.retries: dict[str, tuple[str, ...]] = {}
        self.kinds: dict[str, str] = {}
        self._index_flow(engine.flow, None)

    def _index_flow(self, flow: sf.Flow, owner: str | None) -> None:
        controller = flow.retry.name if flow.retry is not None else owner
        if flow.retry is not None:
            self.kinds[flow.retry.name] = "retry"
        scope: list[str] = []
        for child in flow:
            if isinstance(child, sf.Flow):
                self._index_flow(child, controller)
                continue
            self.kinds[child.name] = "retry" if isinstance(child, sf.Retry) else "task"
        if flow.retry is not None:
            scope = [atom.name for atom in flow.iter_atoms() if atom is not flow.retry]
            self.retries[flow.retry.name] = tuple(scope)

    def uuid_of(self, name: str) -> str:
        """The stable uuid TaskFlow shows for atom ``name``."""
        return self.engine.atom_uuid(name)

    def __call__(self, event: sf.events.Event, details: Mapping[str, Any]) -> None:
        if event is sf.events.FLOW_STATE:
            self._flow(details)
        elif event is sf.events.ATOM_STATE:
            self._atom(details)

    def tell_reset(self, atoms: Mapping[str, str], flow_state: str) -> None:
        """Announce a reset: each atom that was not PENDING, then the flow, back to PENDING."""
        for name, state in atoms.items():
            if state != "PENDING":
                self._tell(name, "PENDING", state, {})
        self.atom_states.clear()
        self.flow_state = flow_state
        self._flow({"state": "PENDING"})

    def _flow(self, details: Mapping[str, Any]) -> None:
        state = str(details["state"])
        if state in _SILENT_FLOW_STATES or state == self.flow_state:
            return
        old, self.flow_state = self.flow_state, state
        self.engine.notifier.notify(
            state,
            {
                "engine": self.engine,
                "flow_name": self.engine.flow.name,
                "flow_uuid": self.engine.storage.flow_uuid,
                "old_state": old,
            },
        )

    def _atom(self, details: Mapping[str, Any]) -> None:
        name = details["atom_name"]
        state = str(details["state"])
        old = self.atom_states.get(name, str(details["old_state"]))
        self._tell(name, state, old, details)
        if state == "RETRYING":
            for member in self.retries.get(name, ()):
                previous = self.atom_states.get(member, "PENDING")
                if previous != "PENDING":
                    self._tell(member, "PENDING", previous, {})

    def _tell(self, name: str, state: str, old: str, details: Mapping[str, Any]) -> None:
        self.atom_states[name] = state
        kind = self.kinds.get(name, "task")
        told: dict[str, Any] = {
            f"{kind}_name": name,
            f"{kind}_uuid": self.uuid_of(name),
            "old_state": old,
        }
        if state in _WITH_RESULT:
            told["result"] = self._result(state, details)
        self.engine.atom_notifier.notify(state, told)

    @staticmethod
    def _result(state: str, details: Mapping[str, Any]) -> Any:
        failure = details.get("failure")
        if failure is not None:
            return Failure.adopt(failure)
        if state == "REVERTED":
            return None
        return details.get("result")

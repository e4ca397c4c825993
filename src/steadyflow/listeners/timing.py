"""A listener that records how long every atom took."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from steadyflow.listeners.base import Listener

if TYPE_CHECKING:
    from steadyflow.engine.engine import Engine

__all__ = ["TimingListener"]

_ENDS = frozenset({"SUCCESS", "FAILURE"})
_REVERT_ENDS = frozenset({"REVERTED", "REVERT_FAILURE"})


class TimingListener(Listener):
    """Records the duration of every atom's execute (and revert), in seconds.

    Durations come from the ``elapsed`` detail of the engine's SUCCESS,
    FAILURE, REVERTED and REVERT_FAILURE events. They are kept in
    :attr:`durations` and :attr:`revert_durations` and written to the atom's
    metadata (``duration`` and ``revert_duration``), so a persisted flow keeps them.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.durations: dict[str, float] = {}
        self.revert_durations: dict[str, float] = {}

    def on_atom_state(self, details: Mapping[str, Any]) -> None:
        elapsed = details.get("elapsed")
        if elapsed is None:
            return
        state = str(details["state"])
        name = details["atom_name"]
        if state in _ENDS:
            self.durations[name] = elapsed
            self._record(name, duration=elapsed)
        elif state in _REVERT_ENDS:
            self.revert_durations[name] = elapsed
            self._record(name, revert_duration=elapsed)

    def _record(self, name: str, **values: float) -> None:
        storage = self.engine.storage
        index = storage.plan.by_name.get(name)
        if index is not None:
            storage.update_meta(index, **values)

"""The events an engine's notifier emits, and what their details hold.

Every callback is called as ``callback(event, details)``. ``details`` is a
dict with at least ``flow_name``, ``flow_id`` and ``timestamp`` (seconds
since the epoch); atom events add ``atom_name``, ``atom_kind`` ("task" or
"retry"), ``state`` and ``old_state``, plus ``result`` on SUCCESS and
``failure`` on FAILURE and REVERT_FAILURE, and ``elapsed`` (seconds since
the execute or revert started) on SUCCESS, FAILURE, REVERTED and
REVERT_FAILURE; progress events add ``atom_name`` and ``progress`` (0.0 to
1.0) and are sent from the thread that reported them; flow events add
``state`` and ``old_state``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ANY", "ATOM_PROGRESS", "ATOM_STATE", "FLOW_STATE", "Event"]


class Event(StrEnum):
    """The kinds of notification."""

    FLOW_STATE = "flow.state"
    """The flow moved to another :class:`~steadyflow.states.FlowState`."""
    ATOM_STATE = "atom.state"
    """A task or retry controller moved to another :class:`~steadyflow.states.AtomState`."""
    ATOM_PROGRESS = "atom.progress"
    """A running task called ``update_progress``."""
    ANY = "*"
    """Register for this to receive every event."""


FLOW_STATE = Event.FLOW_STATE
ATOM_STATE = Event.ATOM_STATE
ATOM_PROGRESS = Event.ATOM_PROGRESS
ANY = Event.ANY

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

Atom events also carry ``attempt`` (1 for the first execution; a revert
carries the attempt it undoes) and ``idempotency_key``, the key the atom's
:class:`~steadyflow.context.AtomContext` has. Element events are sent for each
element of a :class:`~steadyflow.mapreduce.Map`, with the details of an atom
event (``atom_name`` is the map's name) plus ``element``, the element's index;
their ``attempt`` counts that element's own attempts. RUNNING and REVERTING
events of a job (any atom but a map itself, and every element) carry its
``context``, the :class:`~steadyflow.context.AtomContext` the job will run under.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ANY", "ATOM_PROGRESS", "ATOM_STATE", "ELEMENT_STATE", "FLOW_STATE", "Event"]


class Event(StrEnum):
    """The kinds of notification."""

    FLOW_STATE = "flow.state"
    """The flow moved to another :class:`~steadyflow.states.FlowState`."""
    ATOM_STATE = "atom.state"
    """A task or retry controller moved to another :class:`~steadyflow.states.AtomState`."""
    ELEMENT_STATE = "element.state"
    """One element of a map atom moved to another :class:`~steadyflow.states.AtomState`."""
    ATOM_PROGRESS = "atom.progress"
    """A running task called ``update_progress``."""
    ANY = "*"
    """Register for this to receive every event."""


FLOW_STATE = Event.FLOW_STATE
ATOM_STATE = Event.ATOM_STATE
ELEMENT_STATE = Event.ELEMENT_STATE
ATOM_PROGRESS = Event.ATOM_PROGRESS
ANY = Event.ANY

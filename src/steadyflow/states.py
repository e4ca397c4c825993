"""The states of flows, atoms and engines, and the only moves between them.

Each kind of state is a :class:`~enum.StrEnum` (so it stores and prints as
plain text) with an explicit transition table. Moving along an edge the table
lacks is a bug in steadyflow and raises
:class:`~steadyflow.errors.IllegalTransitionError`: the tables are what makes
"a revert in progress survives a crash" checkable rather than hoped for.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from steadyflow.errors import IllegalTransitionError

__all__ = [
    "ATOM_TRANSITIONS",
    "ENGINE_TRANSITIONS",
    "FLOW_TRANSITIONS",
    "RETRY_TRANSITIONS",
    "AtomState",
    "EngineState",
    "FlowState",
    "Intention",
    "check_transition",
]


class AtomState(StrEnum):
    """Where one task or retry controller is in its life."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVERTING = "REVERTING"
    REVERTED = "REVERTED"
    REVERT_FAILURE = "REVERT_FAILURE"
    IGNORE = "IGNORE"
    RETRYING = "RETRYING"


class FlowState(StrEnum):
    """Where a whole flow is in its life; what a stored flow detail records."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVERTING = "REVERTING"
    REVERTED = "REVERTED"
    SUSPENDING = "SUSPENDING"
    SUSPENDED = "SUSPENDED"
    RESUMING = "RESUMING"


class EngineState(StrEnum):
    """The phases of the engine loop, as :meth:`Engine.run_iter` yields them."""

    UNDEFINED = "UNDEFINED"
    RESUMING = "RESUMING"
    SCHEDULING = "SCHEDULING"
    WAITING = "WAITING"
    ANALYZING = "ANALYZING"
    SUCCESS = "SUCCESS"
    REVERTED = "REVERTED"
    FAILURE = "FAILURE"
    SUSPENDED = "SUSPENDED"


class Intention(StrEnum):
    """What the engine means to do next with an atom; persisted for resumption."""

    EXECUTE = "EXECUTE"
    REVERT = "REVERT"
    RETRY = "RETRY"
    IGNORE = "IGNORE"


_A = AtomState

ATOM_TRANSITIONS: Mapping[AtomState, frozenset[AtomState]] = {
    _A.PENDING: frozenset({_A.RUNNING, _A.IGNORE, _A.REVERTED}),
    _A.RUNNING: frozenset({_A.SUCCESS, _A.FAILURE, _A.RUNNING}),
    _A.SUCCESS: frozenset({_A.REVERTING, _A.PENDING}),
    _A.FAILURE: frozenset({_A.REVERTING, _A.PENDING}),
    _A.REVERTING: frozenset({_A.REVERTED, _A.REVERT_FAILURE, _A.REVERTING}),
    _A.REVERTED: frozenset({_A.PENDING}),
    _A.REVERT_FAILURE: frozenset({_A.REVERTING, _A.PENDING}),
    _A.IGNORE: frozenset({_A.PENDING}),
    _A.RETRYING: frozenset(),
}
"""Task moves. RUNNING->RUNNING and REVERTING->REVERTING are the re-runs of a resume."""

RETRY_TRANSITIONS: Mapping[AtomState, frozenset[AtomState]] = {
    **ATOM_TRANSITIONS,
    _A.SUCCESS: frozenset({_A.REVERTING, _A.PENDING, _A.RETRYING}),
    _A.RETRYING: frozenset({_A.RUNNING}),
}
"""Retry controller moves: as a task's, plus SUCCESS->RETRYING->RUNNING for a new attempt."""

_F = FlowState

FLOW_TRANSITIONS: Mapping[FlowState, frozenset[FlowState]] = {
    _F.PENDING: frozenset({_F.RUNNING, _F.RESUMING}),
    _F.RUNNING: frozenset({_F.SUCCESS, _F.REVERTING, _F.SUSPENDING, _F.FAILURE, _F.RESUMING}),
    _F.SUCCESS: frozenset({_F.PENDING, _F.RESUMING}),
    _F.REVERTING: frozenset({_F.REVERTED, _F.FAILURE, _F.SUSPENDING, _F.RESUMING}),
    _F.REVERTED: frozenset({_F.PENDING, _F.RESUMING}),
    _F.FAILURE: frozenset({_F.PENDING, _F.RESUMING}),
    _F.SUSPENDING: frozenset({_F.SUSPENDED, _F.SUCCESS, _F.REVERTED, _F.FAILURE}),
    _F.SUSPENDED: frozenset({_F.RESUMING, _F.PENDING}),
    _F.RESUMING: frozenset({_F.RUNNING, _F.REVERTING}),
}
"""Flow moves. RUNNING->RESUMING and REVERTING->RESUMING are resumes after a crash."""

_E = EngineState

_ENDS = frozenset({_E.SUCCESS, _E.REVERTED, _E.FAILURE, _E.SUSPENDED})

ENGINE_TRANSITIONS: Mapping[EngineState, frozenset[EngineState]] = {
    _E.UNDEFINED: frozenset({_E.RESUMING}),
    _E.RESUMING: frozenset({_E.SCHEDULING}) | _ENDS,
    _E.SCHEDULING: frozenset({_E.WAITING}) | _ENDS,
    _E.WAITING: frozenset({_E.ANALYZING}),
    _E.ANALYZING: frozenset({_E.SCHEDULING}) | _ENDS,
    _E.SUCCESS: frozenset({_E.RESUMING}),
    _E.REVERTED: frozenset({_E.RESUMING}),
    _E.FAILURE: frozenset({_E.RESUMING}),
    _E.SUSPENDED: frozenset({_E.RESUMING}),
}
"""Engine loop phases. Any phase may end the run once nothing is left to do."""


_S = TypeVar("_S", bound=StrEnum)


def check_transition(table: Mapping[_S, frozenset[_S]], current: _S, target: _S, what: str) -> None:
    """Raise unless ``table`` allows ``current -> target``.

    Args:
        table: one of the transition tables of this module.
        current: the state now.
        target: the state wanted.
        what: names the thing that moves, for the message.

    Raises:
        IllegalTransitionError: the table has no such edge.
    """
    if target not in table[current]:
        raise IllegalTransitionError(
            f"{what}: illegal transition {current.value} -> {target.value}"
        )

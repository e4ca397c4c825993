"""What a stored flow keeps for people looking at it later: its shape and its timeline.

Two additions to what the engine already writes, both free of extra writes:

- the flow's **structure** (``FlowDetail.meta["structure"]``), encoded from
  the compiled plan once, when the flow detail is created (or first resumed
  by a version that records it): the nesting of flows, each atom's kind and
  the atoms it runs after. Tools draw the flow from it without importing
  the application's code.
- each atom's **transitions** (``AtomDetail.meta["transitions"]``) and the
  flow's own (``FlowDetail.meta["transitions"]``): ``[state, time, attempt]``
  triples, appended by the persister when it writes a record whose state
  changed since its last write. The time is when the change was written,
  i.e. when it became durable (within one scheduling round of the change
  itself, which a sync run writes before acting on it). A state entered
  and left between two writes (e.g. FAILURE, when the atom is reverted in
  the same round, or anything under batched durability) is not seen. A
  resumed run adds RESUMING to the flow's trail, and a second RUNNING entry
  (same attempt) for each atom it runs again after a crash.

Transitions are capped at :data:`MAX_TRANSITIONS` per record (the newest are
kept), so an atom retried forever does not grow its row forever.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from steadyflow.flow.graph import Graph
from steadyflow.flow.unordered import Unordered
from steadyflow.mapreduce import is_map

if TYPE_CHECKING:
    from steadyflow.engine._plan import Plan

__all__ = [
    "MAX_TRANSITIONS",
    "STRUCTURE_FORMAT",
    "STRUCTURE_KEY",
    "TRANSITIONS_KEY",
    "encode_structure",
    "record_transition",
]

STRUCTURE_KEY = "structure"
"""The key of the encoded structure in ``FlowDetail.meta``."""

TRANSITIONS_KEY = "transitions"
"""The key of the transitions in ``AtomDetail.meta`` and ``FlowDetail.meta``."""

STRUCTURE_FORMAT = 1
"""Version of :func:`encode_structure`'s output."""

MAX_TRANSITIONS = 64
"""Transitions kept per atom or flow; the oldest are dropped beyond it."""


def _kind_of_flow(flow: object) -> str:
    if isinstance(flow, Graph):
        return "graph"
    if isinstance(flow, Unordered):
        return "unordered"
    return "linear"


def encode_structure(plan: Plan) -> dict[str, Any]:
    """The plan's shape as compact JSON: flows and atoms, by index.

    ``flows``: ``[name, kind, parent flow index (-1 for the root)]`` each;
    ``atoms`` (in the plan's topological order): ``[name, kind, flow index,
    [indices of the atoms it runs after]]``, kind being ``task``, ``retry``
    or ``map``.
    """
    flows = [[scope.name, _kind_of_flow(scope.flow), scope.parent] for scope in plan.scopes]
    atoms = [
        [
            node.name,
            "retry" if node.is_retry else "map" if is_map(node.atom) else "task",
            node.scope,
            list(node.preds),
        ]
        for node in plan.nodes
    ]
    return {"format": STRUCTURE_FORMAT, "flows": flows, "atoms": atoms}


def record_transition(
    trail: list[list[Any]], state: str, at: float, attempt: int, *, again: bool = False
) -> bool:
    """Append ``[state, at, attempt]`` unless the trail already ends in that state and attempt.

    Args:
        again: append even then: the state was entered anew (an atom found
            RUNNING by a resumed run starts executing again, same attempt).

    Returns:
        Whether the trail changed.
    """
    if trail and not again:
        last = trail[-1]
        if last[0] == state and last[2] == attempt:
            return False
    trail.append([state, at, attempt])
    if len(trail) > MAX_TRANSITIONS:
        del trail[: len(trail) - MAX_TRANSITIONS]
    return True

"""The compiled form of a flow: an immutable DAG of atoms with resolved inputs.

Nodes are numbered in a topological order (every edge goes from a lower
index to a higher one), and every scope (flow) covers a contiguous range of
node indices. Both facts keep the engine's bookkeeping to plain lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from steadyflow.atom import Atom
from steadyflow.flow.base import Flow
from steadyflow.flow.graph import Depth

__all__ = ["Ambiguous", "Binding", "DeciderRef", "Node", "Plan", "Scope"]


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """Stands for a symbol several providers offer, none of them nearest."""

    providers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Binding:
    """Where one parameter of an atom gets its value.

    ``provider`` is the node index of the nearest visible provider, None when
    nothing in the flow provides the symbol (it must then come from the
    store, or the parameter must be optional), or an :class:`Ambiguous`.
    """

    arg: str
    symbol: str
    provider: int | Ambiguous | None
    key: Any
    optional: bool


@dataclass(frozen=True, slots=True, eq=False)
class DeciderRef:
    """A decider of a graph link, with the node ranges it reads and switches off."""

    index: int
    fn: Callable[[Mapping[str, Any]], bool]
    source: range
    target: range
    depth: Depth
    graph: range


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """One atom in the plan."""

    index: int
    name: str
    atom: Atom
    is_retry: bool
    preds: tuple[int, ...]
    succs: tuple[int, ...]
    scope: int
    """The innermost scope (flow) holding this atom."""
    retry: int
    """The node index of the controller handling this atom's failures, or -1."""
    bindings: tuple[Binding, ...]
    injected: Mapping[str, Any]
    deciders: tuple[DeciderRef, ...]
    """Deciders to evaluate when this node becomes ready."""


@dataclass(frozen=True, slots=True, eq=False)
class Scope:
    """One flow of the tree, covering the nodes in ``members``."""

    index: int
    name: str
    flow: Flow
    parent: int
    retry: int
    """The node index of this flow's own controller, or -1."""
    members: range


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    """An immutable, validated DAG of atoms, ready for any number of runs."""

    flow_name: str
    nodes: tuple[Node, ...]
    scopes: tuple[Scope, ...]
    by_name: Mapping[str, int]
    providers: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """Symbol -> every node providing it, in topological order."""

    def __len__(self) -> int:
        return len(self.nodes)

    def node(self, name: str) -> Node:
        """The node of the atom called ``name``."""
        return self.nodes[self.by_name[name]]

    def descendants(self, starts: range | list[int], within: range | None = None) -> set[int]:
        """Every node reachable from ``starts`` (included), optionally inside ``within``."""
        seen = set(starts)
        stack = list(seen)
        nodes = self.nodes
        while stack:
            for succ in nodes[stack.pop()].succs:
                if succ not in seen and (within is None or succ in within):
                    seen.add(succ)
                    stack.append(succ)
        return seen

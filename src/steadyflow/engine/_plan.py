"""The compiled form of a flow: an immutable DAG of atoms with resolved inputs.

Nodes are numbered in a topological order (every edge goes from a lower
index to a higher one), and every scope (flow) covers a contiguous range of
node indices. Both facts keep the engine's bookkeeping to plain lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from steadyflow.atom import Atom
from steadyflow.flow.base import Flow
from steadyflow.flow.graph import Depth

__all__ = ["Ambiguous", "Binding", "DeciderRef", "Node", "Plan", "Scope"]


class Ambiguous(NamedTuple):
    """Stands for a symbol several providers offer, none of them nearest."""

    providers: tuple[str, ...]


class Binding(NamedTuple):
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


# The classes below are plain slotted classes rather than dataclasses: importing
# dataclasses (and the inspect module it pulls in) would double `import steadyflow`.


class DeciderRef:
    """A decider of a graph link, with the node ranges it reads and switches off."""

    __slots__ = ("depth", "fn", "graph", "index", "source", "target")

    def __init__(
        self,
        index: int,
        fn: Callable[[Mapping[str, Any]], bool],
        source: range,
        target: range,
        depth: Depth,
        graph: range,
    ) -> None:
        self.index = index
        self.fn = fn
        self.source = source
        self.target = target
        self.depth = depth
        self.graph = graph


class Node:
    """One atom in the plan.

    ``scope`` is the innermost scope (flow) holding the atom; ``retry`` the
    node index of the controller handling its failures, or -1; ``deciders``
    the link deciders to evaluate when the node becomes ready.
    """

    __slots__ = (
        "atom",
        "bindings",
        "deciders",
        "index",
        "injected",
        "is_retry",
        "name",
        "preds",
        "retry",
        "scope",
        "succs",
    )

    def __init__(
        self,
        index: int,
        name: str,
        atom: Atom,
        is_retry: bool,
        preds: tuple[int, ...],
        succs: tuple[int, ...],
        scope: int,
        retry: int,
        bindings: tuple[Binding, ...],
        injected: Mapping[str, Any],
        deciders: tuple[DeciderRef, ...],
    ) -> None:
        self.index = index
        self.name = name
        self.atom = atom
        self.is_retry = is_retry
        self.preds = preds
        self.succs = succs
        self.scope = scope
        self.retry = retry
        self.bindings = bindings
        self.injected = injected
        self.deciders = deciders

    def __repr__(self) -> str:
        return f"<Node {self.index} {self.name!r}>"


class Scope:
    """One flow of the tree, covering the nodes in ``members``.

    ``retry`` is the node index of the flow's own controller, or -1.
    """

    __slots__ = ("flow", "index", "members", "name", "parent", "retry")

    def __init__(
        self, index: int, name: str, flow: Flow, parent: int, retry: int, members: range
    ) -> None:
        self.index = index
        self.name = name
        self.flow = flow
        self.parent = parent
        self.retry = retry
        self.members = members


class Plan:
    """An immutable, validated DAG of atoms, ready for any number of runs.

    ``providers`` maps each symbol to every node providing it, in topological order.
    """

    __slots__ = ("by_name", "flow_name", "nodes", "providers", "scopes")

    def __init__(
        self,
        flow_name: str,
        nodes: tuple[Node, ...],
        scopes: tuple[Scope, ...],
        by_name: Mapping[str, int],
        providers: Mapping[str, tuple[int, ...]] | None = None,
    ) -> None:
        self.flow_name = flow_name
        self.nodes = nodes
        self.scopes = scopes
        self.by_name = by_name
        self.providers: Mapping[str, tuple[int, ...]] = providers or {}

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

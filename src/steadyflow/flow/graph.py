"""Graph flows: items ordered by their data dependencies and explicit links."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, Self

from steadyflow.atom import Atom
from steadyflow.errors import InvalidAtomError
from steadyflow.flow.base import Flow
from steadyflow.retry import Retry

__all__ = ["Decider", "Depth", "Graph", "Link"]

Decider = Callable[[Mapping[str, Any]], bool]
"""Gets the results of the link's source (atom name -> result); False switches the target off."""


class Depth(StrEnum):
    """How far a decider's "no" reaches."""

    ATOM = "ATOM"
    """Only the link's target (an atom, or a whole sub-flow)."""
    FLOW = "FLOW"
    """The target and what depends on it inside the graph holding the link."""
    ALL = "ALL"
    """The target and everything that depends on it, anywhere."""


class Link:
    """An explicit edge of a graph flow, optionally guarded by a decider."""

    __slots__ = ("decider", "depth", "source", "target")

    def __init__(
        self,
        source: Atom | Flow,
        target: Atom | Flow,
        decider: Decider | None = None,
        depth: Depth = Depth.ALL,
    ) -> None:
        self.source = source
        self.target = target
        self.decider = decider
        self.depth = depth

    def __repr__(self) -> str:
        return f"<Link {self.source.name!r} -> {self.target.name!r}>"


def _label(item: Atom | Flow) -> str:
    return item.name


class Graph(Flow):
    """Runs its items in an order given by data dependencies and :meth:`link`.

    An item that requires a name another item provides runs after it; links
    add edges the data does not imply, and a link's decider can switch its
    target off at run time.
    """

    def __init__(self, name: str, *items: Atom | Flow, retry: Retry | None = None) -> None:
        self._links: list[Link] = []
        self._target: Atom | Flow | None = None
        super().__init__(name, *items, retry=retry)

    def link(
        self,
        source: Atom | Flow,
        target: Atom | Flow,
        *,
        decider: Decider | None = None,
        depth: Depth | str = Depth.ALL,
    ) -> Self:
        """Make ``target`` run after ``source``; returns the graph.

        Args:
            source: an item already added to this graph.
            target: another item already added to this graph.
            decider: called with the results of ``source`` once it finished;
                returning False marks ``target`` (and per ``depth`` more)
                IGNORE, and it is skipped.
            depth: how far a False decision reaches (see :class:`Depth`).

        Raises:
            InvalidAtomError: an item is not a child of this graph, the link
                is a self-loop, or the decider is not callable.
        """
        for item in (source, target):
            if not any(child is item for child in self._children):
                raise InvalidAtomError(
                    f"graph {self.name!r}: cannot link {_label(item)!r}, which was not added "
                    f"to this graph; add() it first"
                )
        if source is target:
            raise InvalidAtomError(f"graph {self.name!r}: cannot link {source.name!r} to itself")
        if decider is not None and not callable(decider):
            raise InvalidAtomError(f"graph {self.name!r}: decider must be callable")
        self._links.append(Link(source, target, decider, Depth(depth)))
        self._changed()
        return self

    def target(self, item: Atom | Flow) -> Self:
        """Run only ``item`` and what it depends on; returns the graph.

        Raises:
            InvalidAtomError: ``item`` is not a child of this graph.
        """
        if not any(child is item for child in self._children):
            raise InvalidAtomError(
                f"graph {self.name!r}: target {_label(item)!r} was not added to this graph"
            )
        self._target = item
        self._changed()
        return self

    @property
    def links(self) -> tuple[Link, ...]:
        """The explicit links, in the order they were made."""
        return tuple(self._links)

    @property
    def target_item(self) -> Atom | Flow | None:
        """The item set by :meth:`target`, if any."""
        return self._target

"""TaskFlow's graph flow: items ordered by their data and by explicit links."""

from __future__ import annotations

from typing import Any, Self

import steadyflow as sf
from steadyflow.compat.taskflow import _internals, exceptions

__all__ = ["Flow", "TargetedFlow"]


class Flow(sf.Graph):
    """A graph flow; :meth:`link` adds an edge, optionally guarded by a decider."""

    def __init__(self, name: str, retry: Any = None) -> None:
        super().__init__(name, retry=retry)

    def link(  # type: ignore[override]
        self,
        u: Any,
        v: Any,
        decider: Any = None,
        decider_depth: Any = None,
    ) -> Self:
        """Run ``v`` after ``u``; a ``decider(history)`` returning False skips ``v``.

        Raises:
            DependencyFailure: the link would make a cycle (``u`` is ``v``).
            ValueError: an item was not added to this flow.
        """
        if u is v:
            raise exceptions.DependencyFailure(
                f"No path through the items in the graph produces an ordering that will allow "
                f"for logical edge traversal (the link {u.name!r} -> {v.name!r} is a cycle)"
            )
        depth = (
            "ALL" if decider_depth is None else str(getattr(decider_depth, "value", decider_depth))
        )
        try:
            return super().link(u, v, decider=decider, depth=depth.upper())
        except sf.errors.InvalidAtomError as exc:
            raise ValueError(str(exc)) from exc

    def __str__(self) -> str:
        return f'"graph_flow.Flow: {self.name}(len={len(self)})"'


class TargetedFlow(Flow):
    """A graph flow that runs only a target item and what it depends on."""

    def set_target(self, target_node: Any) -> None:
        """Run only ``target_node`` and what it depends on."""
        self.target(target_node)

    def reset_target(self) -> None:
        """Run every item again."""
        _internals.clear_target(self)

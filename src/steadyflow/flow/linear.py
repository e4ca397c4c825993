"""Linear flows: each item runs after the one before it."""

from __future__ import annotations

from steadyflow.flow.base import Flow

__all__ = ["Linear"]


class Linear(Flow):
    """Runs its items one after another, in the order they were added.

    An item's inputs may come from any item before it; when several earlier
    items provide the same name, the nearest one wins.
    """

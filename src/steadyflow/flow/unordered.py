"""Unordered flows: independent items that may run in any order, or at once."""

from __future__ import annotations

from steadyflow.flow.base import Flow

__all__ = ["Unordered"]


class Unordered(Flow):
    """Runs its items in any order; the parallel engine runs them concurrently.

    Items must be independent: one may not require what a sibling provides
    (compiling such a flow raises :class:`~steadyflow.errors.DependencyError`).
    """

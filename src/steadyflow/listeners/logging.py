"""A listener that writes every transition to a :mod:`logging` logger."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from steadyflow.listeners.base import Listener

if TYPE_CHECKING:
    from steadyflow.engine.engine import Engine

__all__ = ["LoggingListener"]


class LoggingListener(Listener):
    """Logs transitions at ``level``; failures at WARNING with their traceback.

    Args:
        engine: the engine to observe.
        logger: defaults to the ``steadyflow.run`` logger.
        level: the level of ordinary transitions.
    """

    def __init__(
        self, engine: Engine, *, logger: logging.Logger | None = None, level: int = logging.INFO
    ) -> None:
        super().__init__(engine)
        self.logger = logger or logging.getLogger("steadyflow.run")
        self.level = level

    def on_flow_state(self, details: Mapping[str, Any]) -> None:
        self.logger.log(
            self.level,
            "flow %r (%s) %s -> %s",
            details["flow_name"],
            details["flow_id"],
            details["old_state"],
            details["state"],
        )

    def on_atom_state(self, details: Mapping[str, Any]) -> None:
        failure = details.get("failure")
        if failure is not None:
            self.logger.warning(
                "%s %r %s: %s\n%s",
                details["atom_kind"],
                details["atom_name"],
                details["state"],
                failure,
                failure.traceback_str,
            )
            return
        self.logger.log(
            self.level,
            "%s %r %s -> %s",
            details["atom_kind"],
            details["atom_name"],
            details["old_state"],
            details["state"],
        )

    def on_progress(self, details: Mapping[str, Any]) -> None:
        self.logger.log(
            self.level, "task %r progress %.0f%%", details["atom_name"], details["progress"] * 100
        )

"""A listener that prints every transition, for scripts and examples."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from steadyflow.listeners.base import Listener

if TYPE_CHECKING:
    from steadyflow.engine.engine import Engine

__all__ = ["PrintingListener"]


class PrintingListener(Listener):
    """Prints one line per transition to ``file`` (standard output by default)."""

    def __init__(self, engine: Engine, *, file: TextIO | None = None) -> None:
        super().__init__(engine)
        self.file = file

    def _print(self, text: str) -> None:
        print(text, file=self.file or sys.stdout, flush=True)

    def on_flow_state(self, details: Mapping[str, Any]) -> None:
        self._print(f"flow {details['flow_name']}: {details['state']}")

    def on_atom_state(self, details: Mapping[str, Any]) -> None:
        line = f"{details['atom_kind']} {details['atom_name']}: {details['state']}"
        failure = details.get("failure")
        if failure is not None:
            line += f" ({failure})"
        self._print(line)

    def on_progress(self, details: Mapping[str, Any]) -> None:
        self._print(f"task {details['atom_name']}: {details['progress']:.0%}")

"""What ``steadyflow flows resume`` shows while the flow runs.

On a terminal: one status line redrawn in place (atoms done of total, the
running atoms, elapsed time), refreshed on every event and twice a second.
Elsewhere (a pipe, a log file): one plain line per transition, so the output
reads well in a log and never holds carriage returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from steadyflow.cli._render import format_duration
from steadyflow.listeners.base import Listener
from steadyflow.states import AtomState

if TYPE_CHECKING:
    from steadyflow.cli._render import Style
    from steadyflow.engine.engine import Engine

__all__ = ["ProgressDisplay"]

_FINISHED = frozenset({AtomState.SUCCESS, AtomState.REVERTED, AtomState.IGNORE})
_ACTIVE = frozenset({AtomState.RUNNING, AtomState.REVERTING})
TICK = 0.5
"""Seconds between redraws of the status line when nothing happens."""


class ProgressDisplay(Listener):
    """Reports a run's progress on ``stream``.

    Args:
        engine: the engine about to run.
        states: each atom's state before the run (what the store holds).
        stream: where to write.
        terminal: redraw one status line (True) or print plain lines (False).
        style: colours states when on.
    """

    def __init__(
        self,
        engine: Engine,
        states: Mapping[str, AtomState],
        stream: TextIO,
        *,
        terminal: bool,
        style: Style,
    ) -> None:
        super().__init__(engine)
        self._states = dict(states)
        self._stream = stream
        self._terminal = terminal
        self._style = style
        self._started = time.monotonic()
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._width = 0

    # -- life cycle ----------------------------------------------------------------------

    def register(self) -> None:
        """Start listening (and, on a terminal, redrawing)."""
        super().register()
        self._started = time.monotonic()
        if self._terminal and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="steadyflow-progress")
            self._ticker.daemon = True
            self._ticker.start()
        self._draw()

    def deregister(self) -> None:
        """Stop listening; on a terminal, leave the last status on its own line."""
        super().deregister()
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self._terminal:
            with self._mutex:
                self._redraw()
                self._stream.write("\n")
                self._stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            self._draw()

    # -- events --------------------------------------------------------------------------

    def on_atom_state(self, details: Mapping[str, Any]) -> None:
        name = str(details.get("atom_name"))
        state = AtomState(details["state"])
        with self._mutex:
            self._states[name] = state
            if not self._terminal:
                elapsed = details.get("elapsed")
                suffix = f" ({format_duration(elapsed)})" if isinstance(elapsed, float) else ""
                self._line(f"{name} {self._style.state(state.value)}{suffix}")
        self._draw()

    def on_flow_state(self, details: Mapping[str, Any]) -> None:
        if self._terminal:
            return
        with self._mutex:
            self._line(f"flow {self._style.state(str(details['state']))}")

    # -- output --------------------------------------------------------------------------

    @property
    def done(self) -> int:
        """Atoms finished going forward (succeeded, reverted, ignored)."""
        return sum(1 for state in self._states.values() if state in _FINISHED)

    def status(self) -> str:
        """The status line: done of total, running atoms, elapsed time."""
        running = sorted(name for name, state in self._states.items() if state in _ACTIVE)
        shown = ", ".join(running[:3]) + (f" +{len(running) - 3}" if len(running) > 3 else "")
        elapsed = time.monotonic() - self._started
        text = f"{self.done}/{len(self._states)} atoms done"
        if running:
            text += f" | running: {shown}"
        return f"{text} | {elapsed:.1f} s"

    def _line(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self._stream.write(f"{stamp}  {text}\n")
        self._stream.flush()

    def _draw(self) -> None:
        if not self._terminal:
            return
        with self._mutex:
            self._redraw()

    def _redraw(self) -> None:
        text = self.status()
        padding = " " * max(0, self._width - len(text))
        self._width = len(text)
        self._stream.write(f"\r{text}{padding}")
        self._stream.flush()

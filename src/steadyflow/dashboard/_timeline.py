"""A flow's attempts on a time axis: spans from transitions, bars from spans.

A span is one attempt of one atom: an *execute* span opens when the atom
goes RUNNING and closes on SUCCESS or FAILURE; a *revert* span opens on
REVERTING and closes on REVERTED or REVERT_FAILURE. A second RUNNING with
no end in between is a resume after a crash: the first span is closed as
interrupted where the second begins (both carry the attempt number the
engine recorded: a rerun keeps its attempt's idempotency key). Bars are placed in percent of the
axis, so the page can zoom by widening the drawing (no re-layout, and text
is never stretched).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Bar", "Span", "Timeline", "Transition", "build_timeline", "spans_of"]

_OPENS = {"RUNNING": "execute", "REVERTING": "revert"}
_CLOSES = {
    "SUCCESS": "execute",
    "FAILURE": "execute",
    "REVERTED": "revert",
    "REVERT_FAILURE": "revert",
}
TICKS = 6
"""Labelled marks on the time axis."""


class Transition(NamedTuple):
    """An atom entering ``state`` at ``at`` (seconds since the epoch).

    ``attempt`` is the atom's attempt number as the engine recorded it (0:
    unknown, the spans then count executions themselves).
    """

    atom: str
    state: str
    at: float
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class Span:
    """One attempt: ``end`` is None while it is still going on.

    Attributes:
        atom: the atom's name.
        phase: "execute" or "revert".
        attempt: 1 for the first execute (or revert) of this atom, then 2...
        start: when it began.
        end: when it ended, or None.
        outcome: the state it ended in ("FAILURE" when only a later state
            was seen), "interrupted" (run again after a crash), "ended"
            (a revert whose outcome was not seen), or "running".
    """

    atom: str
    phase: str
    attempt: int
    start: float
    end: float | None
    outcome: str

    @property
    def duration(self) -> float | None:
        """Seconds it took, or None while it runs."""
        return None if self.end is None else self.end - self.start


def _outcome(phase: str, state: str, closing: str | None) -> str:
    """How a span ended, given the state that ended it.

    An execution is written as SUCCESS before anything can follow it, so an
    execution followed by anything else (REVERTING, PENDING for a retry)
    failed; a revert followed by something other than its outcome ended
    without its outcome being seen.
    """
    if closing == phase:
        return state
    if phase == "execute":
        return "IGNORE" if state == "IGNORE" else "FAILURE"
    return "ended"


def spans_of(transitions: Iterable[Transition]) -> list[Span]:
    """Every attempt the transitions tell of, in the order they began."""
    open_spans: dict[tuple[str, str], tuple[int, float]] = {}
    counts: dict[tuple[str, str], int] = {}
    spans: list[Span] = []
    for atom, state, at, recorded in sorted(transitions, key=lambda t: t.at):
        opening = _OPENS.get(state)
        closing = _CLOSES.get(state)
        if opening is not None:
            key = (atom, opening)
            if key in open_spans:
                attempt, start = open_spans.pop(key)
                spans.append(Span(atom, opening, attempt, start, at, "interrupted"))
            counts[key] = counts.get(key, 0) + 1
            number = recorded if opening == "execute" and recorded > 0 else counts[key]
            open_spans[key] = (number, at)
        for phase in ("execute", "revert"):
            if phase == opening or (atom, phase) not in open_spans:
                continue
            # Any other state ends the span, even one whose outcome was never
            # written (entered and left between two writes): see _outcome.
            attempt, start = open_spans.pop((atom, phase))
            spans.append(Span(atom, phase, attempt, start, at, _outcome(phase, state, closing)))
    for (atom, phase), (attempt, start) in open_spans.items():
        spans.append(Span(atom, phase, attempt, start, None, "running"))
    spans.sort(key=lambda s: (s.start, s.atom))
    return spans


@dataclass(frozen=True, slots=True)
class Bar:
    """A span placed on the axis: ``left`` and ``width`` in percent."""

    span: Span
    row: int
    left: float
    width: float
    label: str


@dataclass(frozen=True, slots=True)
class Timeline:
    """Rows (one per atom, first start first), bars and axis ticks."""

    rows: tuple[str, ...]
    bars: tuple[Bar, ...]
    start: float
    end: float
    ticks: tuple[tuple[float, str], ...]


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{value / 60:.1f} min"


def build_timeline(
    spans: Sequence[Span], *, now: float | None = None, min_width: float = 0.4
) -> Timeline:
    """Lay ``spans`` out; a span still running reaches ``now`` (default: the clock).

    Args:
        spans: from :func:`spans_of`.
        now: where running spans end on the axis.
        min_width: the narrowest bar, in percent, so an instant attempt stays visible.
    """
    if not spans:
        return Timeline((), (), 0.0, 0.0, ())
    now = time.time() if now is None else now
    start = min(s.start for s in spans)
    end = max(s.end if s.end is not None else max(now, s.start) for s in spans)
    total = max(end - start, 1e-3)
    rows: list[str] = []
    for span in spans:
        if span.atom not in rows:
            rows.append(span.atom)
    bars = []
    for span in spans:
        stop = span.end if span.end is not None else max(now, span.start)
        left = (span.start - start) / total * 100
        width = max((stop - span.start) / total * 100, min_width)
        left = min(left, 100 - width)
        label = f"{span.atom} {span.phase} #{span.attempt}: {span.outcome}"
        if span.duration is not None:
            label += f" in {_seconds(span.duration)}"
        bars.append(Bar(span, rows.index(span.atom), left, width, label))
    ticks = tuple((i * 100 / TICKS, "+" + _seconds(total * i / TICKS)) for i in range(TICKS + 1))
    return Timeline(tuple(rows), tuple(bars), start, end, ticks)

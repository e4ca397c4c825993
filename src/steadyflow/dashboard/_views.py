"""What the flow page shows, made from a stored flow detail.

The structure, the attempts and the transitions come from the view model
the CLI shares (:func:`steadyflow._inspect.inspect_flow`), which reads only
what the engine stored: the dashboard never imports the application's code.
Values a flow stored (results, store, failure messages, tracebacks) are
turned into *text* here and only ever reach the page through Jinja's
autoescape, so a result holding ``<script>`` is shown, never run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from steadyflow import _inspect
from steadyflow.dashboard._graph import GraphLayout, layout_graph
from steadyflow.dashboard._timeline import Timeline, Transition, build_timeline, spans_of
from steadyflow.failure import Failure
from steadyflow.persistence.models import AtomDetail, FlowDetail

__all__ = ["AtomPanel", "FailureView", "FlowPage", "flow_page", "show_value"]

RESULT_CHARS = 20_000
"""Longest value text shown; a flow may store megabytes, a page should not."""


def show_value(value: Any) -> str:
    """A stored value as readable text (JSON where it can be, else its repr)."""
    try:
        text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > RESULT_CHARS:
        text = text[:RESULT_CHARS] + f"\n... ({len(text) - RESULT_CHARS} more characters)"
    return text


@dataclass(frozen=True, slots=True)
class FailureView:
    """A failure as text: its type, message, traceback, and the chain of causes."""

    type_name: str
    message: str
    traceback: str
    causes: tuple[str, ...]

    @classmethod
    def of(cls, failure: Failure | None) -> FailureView | None:
        """The view of ``failure``, or None."""
        if failure is None:
            return None
        causes: list[str] = []
        cause = failure.cause
        while cause is not None and len(causes) < 10:
            causes.append(f"{cause.exc_type_name}: {cause.message}")
            cause = cause.cause
        return cls(failure.exc_type_name, failure.message, failure.traceback_str, tuple(causes))


@dataclass(frozen=True, slots=True)
class RetryView:
    """One attempt of a retry controller: what it decided and what failed."""

    number: int
    value: str
    failures: tuple[tuple[str, FailureView], ...]


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One execution attempt of an atom, from its recorded transitions."""

    number: int
    idempotency_key: str
    started_at: float | None
    ended_at: float | None
    duration: float | None
    outcome: str
    runs: int


@dataclass(frozen=True, slots=True)
class PastFailureRow:
    """A failure of an earlier attempt, kept by the retry controller that retried it."""

    retry: str
    retry_attempt: int
    failure: FailureView


@dataclass(frozen=True, slots=True)
class AtomPanel:
    """One atom, as its panel on the flow page shows it."""

    name: str
    kind: str
    state: str
    intention: str
    attempt: int
    stored: bool
    attempts: tuple[AttemptRow, ...]
    result: str | None
    failure: FailureView | None
    past_failures: tuple[PastFailureRow, ...]
    revert_result: str | None
    revert_failure: FailureView | None
    retries: tuple[RetryView, ...]
    meta: str | None
    updated_at: float | None


@dataclass(frozen=True, slots=True)
class FlowPage:
    """The whole flow page: header, graph, timeline and atoms."""

    uuid: str
    name: str
    state: str
    version: int
    created_at: float
    updated_at: float
    store: str | None
    factory: str | None
    atoms: tuple[AtomPanel, ...]
    graph: GraphLayout
    structure_known: bool
    timeline: Timeline
    timeline_exact: bool
    resumable: bool
    revocable: bool


_ENGINE_META = frozenset({"attempt", "transitions"})
"""Atom meta keys the page shows in their own place (not in the raw meta)."""


def _retries(atom: AtomDetail) -> tuple[RetryView, ...]:
    views = []
    for number, attempt in enumerate(atom.history, start=1):
        failures = [(name, FailureView.of(f)) for name, f in attempt.failures.items()]
        views.append(
            RetryView(
                number,
                show_value(attempt.value),
                tuple((name, view) for name, view in failures if view is not None),
            )
        )
    return tuple(views)


def _attempt_rows(atom: _inspect.AtomView) -> tuple[AttemptRow, ...]:
    return tuple(
        AttemptRow(
            number=a.number,
            idempotency_key=a.idempotency_key,
            started_at=a.started_at,
            ended_at=a.ended_at,
            duration=a.duration,
            outcome=a.outcome or "",
            runs=a.runs,
        )
        for a in atom.attempts
    )


def _panel(view: _inspect.AtomView, atom: AtomDetail | None) -> AtomPanel:
    past = tuple(
        PastFailureRow(p.retry, p.retry_attempt, failure)
        for p in view.past_failures
        if (failure := FailureView.of(p.failure)) is not None
    )
    if atom is None:
        return AtomPanel(
            name=view.name,
            kind=view.kind,
            state=view.state.value,
            intention=view.intention,
            attempt=0,
            stored=False,
            attempts=(),
            result=None,
            failure=None,
            past_failures=past,
            revert_result=None,
            revert_failure=None,
            retries=(),
            meta=None,
            updated_at=None,
        )
    meta = {k: v for k, v in atom.meta.items() if k not in _ENGINE_META}
    # A task that succeeded returned something, None included; a controller's None is no news.
    has_result = atom.result is not None or (atom.state == "SUCCESS" and atom.kind == "task")
    return AtomPanel(
        name=view.name,
        kind=view.kind,
        state=view.state.value,
        intention=view.intention,
        attempt=view.attempt,
        stored=True,
        attempts=_attempt_rows(view),
        result=show_value(atom.result) if has_result else None,
        failure=FailureView.of(atom.failure),
        past_failures=past,
        revert_result=None if atom.revert_result is None else show_value(atom.revert_result),
        revert_failure=FailureView.of(atom.revert_failure),
        retries=_retries(atom),
        meta=show_value(meta) if meta else None,
        updated_at=atom.updated_at,
    )


def _approximate_transitions(detail: FlowDetail) -> list[Transition]:
    """What each atom's last write tells, for a flow stored before transitions were kept.

    A RUNNING atom was written when it started, a finished one when it ended:
    the first is a bar growing from its start, the second a mark at its end.
    """
    found: list[Transition] = []
    for atom in detail.atoms.values():
        state = atom.state.value
        if state in ("PENDING", "IGNORE"):
            continue
        if state in ("RUNNING", "REVERTING"):
            found.append(Transition(atom.name, state, atom.updated_at))
            continue
        opener = "REVERTING" if state in ("REVERTED", "REVERT_FAILURE") else "RUNNING"
        found.append(Transition(atom.name, opener, atom.updated_at))
        found.append(Transition(atom.name, state, atom.updated_at))
    return found


_AT_REST = frozenset({"SUCCESS", "FAILURE", "REVERTED", "SUSPENDED", "PENDING"})
"""Flow states in which nothing runs: an attempt left open there was cut short."""


def _axis_end(detail: FlowDetail, now: float | None) -> float | None:
    """Where open attempts end on the axis: now while the flow moves, else its last write."""
    return detail.updated_at if detail.state.value in _AT_REST else now


def flow_page(detail: FlowDetail, *, now: float | None = None) -> FlowPage:
    """The page model of ``detail``."""
    inspected = _inspect.inspect_flow(detail)
    names = list(inspected.atoms)
    states = {name: atom.state.value for name, atom in inspected.atoms.items()}
    kinds = {name: atom.kind for name, atom in inspected.atoms.items()}
    transitions = [
        Transition(t.atom, t.state, t.at, t.attempt)
        for t in inspected.transitions
        if t.atom is not None
    ]
    exact = bool(transitions)
    if not exact:
        transitions = _approximate_transitions(detail)
    store = detail.meta.get("store")
    return FlowPage(
        uuid=detail.uuid,
        name=detail.name,
        state=detail.state.value,
        version=detail.version,
        created_at=detail.created_at,
        updated_at=detail.updated_at,
        store=show_value(store) if store else None,
        factory=inspected.factory,
        atoms=tuple(_panel(view, detail.atoms.get(name)) for name, view in inspected.atoms.items()),
        graph=layout_graph(names, inspected.edges, states, kinds),
        structure_known=inspected.structure_known,
        timeline=build_timeline(spans_of(transitions), now=_axis_end(detail, now)),
        timeline_exact=exact,
        resumable=detail.state.value in ("SUSPENDED", "FAILURE") and inspected.factory is not None,
        revocable=detail.state.value != "REVERTED" and inspected.factory is not None,
    )

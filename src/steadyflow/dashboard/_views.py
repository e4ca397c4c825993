"""What the flow page shows, made from a stored flow detail.

Values a flow stored (results, store, failure messages, tracebacks) are
turned into *text* here and only ever reach the page through Jinja's
autoescape, so a result holding ``<script>`` is shown, never run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from steadyflow.dashboard._graph import GraphLayout, layout_graph
from steadyflow.dashboard._timeline import Timeline, Transition, build_timeline, spans_of
from steadyflow.failure import Failure
from steadyflow.persistence.models import AtomDetail, FlowDetail

__all__ = ["AtomView", "FailureView", "FlowView", "StructureCache", "flow_view", "show_value"]

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
class AtomView:
    """One atom, as its panel on the flow page shows it."""

    name: str
    kind: str
    state: str
    intention: str
    attempts: int
    result: str | None
    failure: FailureView | None
    revert_result: str | None
    revert_failure: FailureView | None
    retries: tuple[RetryView, ...]
    meta: str | None
    updated_at: float


@dataclass(frozen=True, slots=True)
class FlowView:
    """The whole flow page: header, graph, timeline and atoms."""

    uuid: str
    name: str
    state: str
    version: int
    created_at: float
    updated_at: float
    store: str | None
    factory: str | None
    atoms: tuple[AtomView, ...]
    graph: GraphLayout
    graph_source: str
    timeline: Timeline
    timeline_exact: bool
    resumable: bool
    revocable: bool


def _atom_view(atom: AtomDetail) -> AtomView:
    meta = {k: v for k, v in atom.meta.items() if k not in ("attempt", "transitions")}
    has_result = atom.result is not None or atom.state == "SUCCESS"
    retries = tuple(
        RetryView(
            number + 1,
            show_value(attempt.value),
            tuple(
                (name, view) for name, f in attempt.failures.items() if (view := FailureView.of(f))
            ),
        )
        for number, attempt in enumerate(atom.history)
    )
    attempts = atom.meta.get("attempt", 0)
    return AtomView(
        name=atom.name,
        kind=atom.kind.value,
        state=atom.state.value,
        intention=atom.intention.value,
        attempts=attempts if isinstance(attempts, int) else 0,
        result=show_value(atom.result) if has_result else None,
        failure=FailureView.of(atom.failure),
        revert_result=None if atom.revert_result is None else show_value(atom.revert_result),
        revert_failure=FailureView.of(atom.revert_failure),
        retries=retries,
        meta=show_value(meta) if meta else None,
        updated_at=atom.updated_at,
    )


def _stored_transitions(atom: AtomDetail) -> list[Transition] | None:
    """The atom's own record of its transitions, if the store keeps one."""
    recorded = atom.meta.get("transitions")
    if not isinstance(recorded, list):
        return None
    return [
        Transition(atom.name, str(entry[0]), float(entry[1]))
        for entry in recorded
        if isinstance(entry, list | tuple) and len(entry) == 2 and isinstance(entry[1], int | float)
    ]


def _transitions(detail: FlowDetail) -> tuple[list[Transition], bool]:
    """Every known transition, and whether they are exact (recorded as they happened).

    Without a recorded history, each atom's last write is all there is: a
    RUNNING atom was written when it started, a finished one when it ended.
    """
    exact: list[Transition] = []
    approximate: list[Transition] = []
    all_recorded = True
    for atom in detail.atoms.values():
        recorded = _stored_transitions(atom)
        if recorded is not None:
            exact.extend(recorded)
            continue
        all_recorded = False
        state = atom.state.value
        if state in ("PENDING", "IGNORE"):
            continue
        if state in ("RUNNING", "REVERTING"):
            approximate.append(Transition(atom.name, state, atom.updated_at))
            continue
        opener = "REVERTING" if state in ("REVERTED", "REVERT_FAILURE") else "RUNNING"
        approximate.append(Transition(atom.name, opener, atom.updated_at))
        approximate.append(Transition(atom.name, state, atom.updated_at))
    return exact + approximate, all_recorded and bool(detail.atoms)


class StructureCache:
    """Flow structures by factory, compiled once: the page redraws every update.

    The structure comes from the flow's stored factory (the same rebuild a
    resume does); a flow without one is drawn as its atoms, unconnected.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._known: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None] = {}

    def structure(
        self, detail: FlowDetail
    ) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None:
        """(atom names in topological order, edges), or None when it cannot be rebuilt."""
        factory = detail.meta.get("factory")
        if not isinstance(factory, Mapping):
            return None
        key = json.dumps(factory, sort_keys=True, default=repr)
        with self._mutex:
            if key in self._known:
                return self._known[key]
        found = _compile_structure(detail)
        with self._mutex:
            self._known[key] = found
        return found


def _compile_structure(
    detail: FlowDetail,
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None:
    from steadyflow.engine._compiler import compile_flow
    from steadyflow.engine._factory import FactorySpec
    from steadyflow.errors import SteadyflowError

    try:
        plan = compile_flow(FactorySpec.from_meta(detail.meta, detail.uuid).build())
    except (SteadyflowError, ImportError, TypeError, ValueError):
        return None
    names = tuple(node.name for node in plan.nodes)
    edges = tuple((plan.nodes[pred].name, node.name) for node in plan.nodes for pred in node.preds)
    return names, edges


def flow_view(
    detail: FlowDetail, structures: StructureCache, *, now: float | None = None
) -> FlowView:
    """The page model of ``detail``."""
    atoms = sorted(detail.atoms.values(), key=lambda a: (a.created_at, a.name))
    states = {atom.name: atom.state.value for atom in atoms}
    kinds = {atom.name: atom.kind.value for atom in atoms}
    structure = structures.structure(detail)
    if structure is not None:
        names, edges = structure
        names = names + tuple(a.name for a in atoms if a.name not in set(names))
        source = "factory"
    else:
        names, edges, source = tuple(a.name for a in atoms), (), "atoms"
    transitions, exact = _transitions(detail)
    factory = detail.meta.get("factory")
    store = detail.meta.get("store")
    return FlowView(
        uuid=detail.uuid,
        name=detail.name,
        state=detail.state.value,
        version=detail.version,
        created_at=detail.created_at,
        updated_at=detail.updated_at,
        store=show_value(store) if store else None,
        factory=str(factory.get("target")) if isinstance(factory, Mapping) else None,
        atoms=tuple(_atom_view(detail.atoms[name]) for name in names if name in detail.atoms),
        graph=layout_graph(names, edges, states, kinds),
        graph_source=source,
        timeline=build_timeline(spans_of(transitions), now=now),
        timeline_exact=exact,
        resumable=detail.state.value in ("SUSPENDED", "FAILURE") and factory is not None,
        revocable=detail.state.value != "REVERTED" and factory is not None,
    )

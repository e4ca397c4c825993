"""A stored flow as people look at it: a tree, each atom's attempts, a timeline.

This is the view model the CLI (``steadyflow flows show|history|graph``) and
the dashboard share. It reads only the stored flow detail, never the
application's code: the structure is the one the engine recorded when it
created the flow (``FlowDetail.meta["structure"]``, see
:mod:`steadyflow.engine._trail`), and times come from the transitions the
persister records with each write. A flow stored before either was recorded
is still shown: as a flat list of its atoms, without edges or times, and
:attr:`FlowView.structure_known` says so.

The records are NamedTuples: a short-lived CLI process pays far less to
define them than it would for dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from steadyflow.engine._trail import STRUCTURE_FORMAT, STRUCTURE_KEY, TRANSITIONS_KEY
from steadyflow.failure import Failure
from steadyflow.states import AtomState, FlowState

if TYPE_CHECKING:
    from steadyflow.persistence.models import AtomDetail, FlowDetail

__all__ = [
    "AtomView",
    "AttemptView",
    "ElementView",
    "FlowNode",
    "FlowView",
    "PastFailure",
    "Transition",
    "inspect_flow",
]

_FINISHED = frozenset({AtomState.SUCCESS, AtomState.REVERTED, AtomState.IGNORE})
_FLOW_ENDS = frozenset(
    {FlowState.SUCCESS, FlowState.FAILURE, FlowState.REVERTED, FlowState.SUSPENDED}
)


class Transition(NamedTuple):
    """One recorded change of state.

    Attributes:
        at: when it was written (seconds since the epoch).
        atom: the atom's name, or None for the flow itself.
        state: the state entered.
        previous: the state recorded before it (None for the first).
        attempt: the atom's attempt number then (0 for the flow).
    """

    at: float
    atom: str | None
    state: str
    previous: str | None
    attempt: int


class AttemptView(NamedTuple):
    """One attempt to run an atom, as its transitions show it.

    Attributes:
        number: 1 for the first execution.
        idempotency_key: the key the attempt ran under (``flow:atom:attempt``).
        started_at: when its (last) RUNNING was written, if it was seen.
        ended_at: when the attempt's outcome was written, if it ended.
        outcome: ``SUCCESS``, ``FAILURE`` (it was followed by anything but
            success), ``RUNNING`` (not ended yet, or cut short by a crash and not
            rerun yet), or the last state recorded when RUNNING was not seen.
        runs: how many times it started executing: more than 1 when a crash
            interrupted it and a resumed run executed it again (same key).
    """

    number: int
    idempotency_key: str
    started_at: float | None
    ended_at: float | None
    outcome: str | None
    runs: int = 1

    @property
    def duration(self) -> float | None:
        """Seconds from RUNNING to the outcome being written; None if unknown."""
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.started_at)


class ElementView(NamedTuple):
    """One element of a Map atom (``position``: its index in the map's input)."""

    position: int
    state: str
    attempts: int
    idempotency_key: str
    failure: Failure | None


class PastFailure(NamedTuple):
    """A failure a retry controller recorded for one of its attempts."""

    retry: str
    retry_attempt: int
    failure: Failure


class AtomView(NamedTuple):
    """One atom of a stored flow, with everything known about its runs.

    Attributes:
        name: the atom's name.
        kind: ``task``, ``retry`` or ``map``.
        state: its current state (PENDING when the store has no record of it yet).
        intention: what the engine means to do with it next.
        attempt: how many times it started (its current attempt number).
        idempotency_key: the key of its current attempt (None before the first).
        attempts: each attempt the transitions show, oldest first.
        failure: why its last execution failed, if it did.
        revert_failure: why its revert failed, if it did.
        past_failures: failures of earlier attempts kept by retry controllers.
        result: what ``execute`` returned (as stored).
        progress: the last progress fraction reported, if any.
        elements: a Map atom's elements.
        after: names of the atoms it runs after (empty when the structure is unknown).
        flow: index of the flow (in :attr:`FlowView.flows`) holding it.
        stored: whether the store holds a record of this atom.
        created_at: when its record was first written (None when not stored).
        updated_at: when its record was last written (None when not stored).
    """

    name: str
    kind: str
    state: AtomState
    intention: str
    attempt: int
    idempotency_key: str | None
    attempts: tuple[AttemptView, ...]
    failure: Failure | None
    revert_failure: Failure | None
    past_failures: tuple[PastFailure, ...]
    result: Any
    progress: float | None
    elements: tuple[ElementView, ...]
    after: tuple[str, ...]
    flow: int
    stored: bool
    created_at: float | None
    updated_at: float | None

    @property
    def duration(self) -> float | None:
        """Seconds spent in the attempts whose duration is known; None if none is."""
        known = [a.duration for a in self.attempts if a.duration is not None]
        return sum(known) if known else None


class FlowNode(NamedTuple):
    """A flow of the tree: its atoms and sub-flows, in declaration order.

    Attributes:
        name: the flow's name.
        kind: ``linear``, ``unordered`` or ``graph`` (``flow`` when unknown).
        retry: the name of its retry controller, if it has one.
        children: atom names (str) and sub-flows, in order.
    """

    name: str
    kind: str
    retry: str | None
    children: tuple[str | FlowNode, ...]


class FlowView(NamedTuple):
    """A stored flow, ready to be shown.

    Attributes:
        uuid: the flow detail's id.
        name: the flow's name.
        state: the flow's state.
        created_at: when it was created.
        updated_at: when its row was last written.
        version: how many times its row was saved.
        root: the tree of flows and atoms.
        atoms: atom name -> view, in the plan's order (else the store's).
        edges: (before, after) atom name pairs; empty when the structure is unknown.
        transitions: the flow's and its atoms' recorded transitions, by time.
        structure_known: whether the flow's structure was stored.
        factory: the ``module:function`` it can be rebuilt from, if saved with one.
        store: the values it was given.
    """

    uuid: str
    name: str
    state: FlowState
    created_at: float
    updated_at: float
    version: int
    root: FlowNode
    atoms: Mapping[str, AtomView]
    edges: tuple[tuple[str, str], ...]
    transitions: tuple[Transition, ...]
    structure_known: bool
    factory: str | None
    store: Mapping[str, Any]

    def count_in(self, *states: AtomState) -> int:
        """How many atoms are in any of ``states``."""
        return sum(1 for atom in self.atoms.values() if atom.state in states)

    @property
    def done(self) -> int:
        """Atoms with nothing left to do going forward (succeeded, reverted or ignored)."""
        return self.count_in(*_FINISHED)

    @property
    def running(self) -> tuple[str, ...]:
        """Names of the atoms running (or reverting) now."""
        active = (AtomState.RUNNING, AtomState.REVERTING)
        return tuple(name for name, atom in self.atoms.items() if atom.state in active)


# -- building ---------------------------------------------------------------------------


def inspect_flow(detail: FlowDetail) -> FlowView:
    """The view of a stored flow detail (its atoms included).

    Never raises on a structure or transitions it cannot read: it shows
    what it can, and says the structure is unknown.
    """
    structure = _structure_of(detail.meta.get(STRUCTURE_KEY))
    failures_by_atom = _past_failures(detail)
    if structure is not None:
        flows, atom_rows = structure
        names = [row[0] for row in atom_rows]
        extra = [name for name in detail.atoms if name not in set(names)]
        after = {row[0]: tuple(names[p] for p in row[3]) for row in atom_rows}
        kinds = {row[0]: row[1] for row in atom_rows}
        scopes = {row[0]: row[2] for row in atom_rows}
        root = _tree(flows, atom_rows, extra)
    else:
        names, extra = list(detail.atoms), []
        after, kinds, scopes = {}, {}, {}
        root = FlowNode(detail.name, "flow", None, tuple(names))
    atoms = {}
    for name in [*names, *extra]:
        atoms[name] = _atom_view(
            detail.uuid,
            name,
            detail.atoms.get(name),
            kinds.get(name),
            after.get(name, ()),
            scopes.get(name, 0),
            failures_by_atom.get(name, ()),
        )
    edges = tuple((before, name) for name, befores in after.items() for before in befores)
    factory = detail.meta.get("factory")
    target = factory.get("target") if isinstance(factory, Mapping) else None
    store = detail.meta.get("store")
    return FlowView(
        uuid=detail.uuid,
        name=detail.name,
        state=detail.state,
        created_at=detail.created_at,
        updated_at=detail.updated_at,
        version=detail.version,
        root=root,
        atoms=atoms,
        edges=edges,
        transitions=_timeline(detail, list(atoms)),
        structure_known=structure is not None,
        factory=target if isinstance(target, str) else None,
        store=store if isinstance(store, Mapping) else {},
    )


_AtomRow = tuple[str, str, int, tuple[int, ...]]
_FlowRow = tuple[str, str, int]


def _structure_of(data: Any) -> tuple[list[_FlowRow], list[_AtomRow]] | None:
    """The decoded structure, or None when absent or not understood."""
    if not isinstance(data, Mapping) or data.get("format") != STRUCTURE_FORMAT:
        return None
    try:
        flows = [(str(n), str(k), int(p)) for n, k, p in data["flows"]]
        atoms = [
            (str(n), str(k), int(s), tuple(int(p) for p in ps)) for n, k, s, ps in data["atoms"]
        ]
    except (KeyError, TypeError, ValueError):
        return None
    if not flows or any(not 0 <= row[2] < len(flows) for row in atoms):
        return None
    if any(not 0 <= p < len(atoms) for row in atoms for p in row[3]):
        return None
    return flows, atoms


def _tree(flows: list[_FlowRow], atoms: list[_AtomRow], extra: list[str]) -> FlowNode:
    """Nest flows and atoms; a flow sits where its first atom does among its siblings."""
    # Each entry of a flow's children: (position, atom name or flow index).
    members: list[list[tuple[int, str | int]]] = [[] for _ in flows]
    first: dict[int, int] = {}
    retries: dict[int, str] = {}
    for position, (name, kind, scope, _) in enumerate(atoms):
        members[scope].append((position, name))
        if kind == "retry" and scope not in retries:
            retries[scope] = name
        chain = scope
        while chain >= 0 and chain not in first:
            first[chain] = position
            chain = flows[chain][2]
    for index, (_, _, parent) in enumerate(flows):
        if parent >= 0:
            members[parent].append((first.get(index, len(atoms)), index))

    def build(index: int) -> FlowNode:
        ordered = sorted(members[index], key=lambda m: (m[0], isinstance(m[1], str)))
        children = tuple(m if isinstance(m, str) else build(m) for _, m in ordered)
        name, kind, _ = flows[index]
        return FlowNode(name, kind, retries.get(index), children)

    root_index = next((i for i, row in enumerate(flows) if row[2] < 0), 0)
    root = build(root_index)
    if extra:
        # Atoms stored but not in the recorded structure (a flow changed under resume).
        root = FlowNode(root.name, root.kind, root.retry, (*root.children, *extra))
    return root


def _trail_of(meta: Mapping[str, Any]) -> list[tuple[str, float, int]]:
    raw = meta.get(TRANSITIONS_KEY)
    if not isinstance(raw, Sequence):
        return []
    trail = []
    for entry in raw:
        try:
            state, at, attempt = entry
            trail.append((str(state), float(at), int(attempt)))
        except (TypeError, ValueError):
            continue
    return trail


def _attempts(flow_id: str, name: str, trail: list[tuple[str, float, int]]) -> list[AttemptView]:
    """Attempts from the trail: each from its (last) RUNNING to the next state recorded.

    The engine writes SUCCESS before anything can follow it, so an execution
    followed by any other state (REVERTING, PENDING for a retry, ...) failed.
    A second RUNNING of one attempt is its rerun after a crash.
    """
    by_number: dict[int, list[tuple[str, float]]] = {}
    for state, at, attempt in trail:
        if attempt > 0:
            by_number.setdefault(attempt, []).append((state, at))
    views = []
    for number, entries in sorted(by_number.items()):
        key = f"{flow_id}:{name}:{number}"
        runs = sum(1 for state, _ in entries if state == "RUNNING")
        started: float | None = None
        ended: float | None = None
        outcome = entries[-1][0]
        for state, at in entries:
            if state == "RUNNING":
                started, ended, outcome = at, None, "RUNNING"
            elif started is not None and ended is None:
                ended = at
                outcome = state if state in ("SUCCESS", "IGNORE") else "FAILURE"
        views.append(AttemptView(number, key, started, ended, outcome, runs))
    return views


def _elements(flow_id: str, name: str, meta: Mapping[str, Any]) -> tuple[ElementView, ...]:
    states = meta.get("elements")
    if not isinstance(states, Sequence) or isinstance(states, str):
        return ()
    attempts = meta.get("element_attempts")
    attempts = attempts if isinstance(attempts, Sequence) else []
    failures = meta.get("element_failures")
    failures = failures if isinstance(failures, Mapping) else {}
    views = []
    for index, state in enumerate(states):
        count = attempts[index] if index < len(attempts) and isinstance(attempts[index], int) else 0
        failure = _failure(failures.get(str(index)))
        key = f"{flow_id}:{name}[{index}]:{max(1, count)}"
        views.append(ElementView(index, str(state), count, key, failure))
    return tuple(views)


def _failure(data: Any) -> Failure | None:
    if not isinstance(data, Mapping):
        return None
    try:
        return Failure.from_dict(data)
    except Exception:  # a damaged failure record is shown as absent, not as a crash
        return None


def _past_failures(detail: FlowDetail) -> dict[str, tuple[PastFailure, ...]]:
    found: dict[str, list[PastFailure]] = {}
    for retry in detail.atoms.values():
        for number, attempt in enumerate(retry.history, start=1):
            for name, failure in attempt.failures.items():
                found.setdefault(name, []).append(PastFailure(retry.name, number, failure))
    return {name: tuple(items) for name, items in found.items()}


def _atom_view(
    flow_id: str,
    name: str,
    atom: AtomDetail | None,
    kind: str | None,
    after: tuple[str, ...],
    scope: int,
    past: tuple[PastFailure, ...],
) -> AtomView:
    if atom is None:
        return AtomView(
            name=name,
            kind=kind or "task",
            state=AtomState.PENDING,
            intention="EXECUTE",
            attempt=0,
            idempotency_key=None,
            attempts=(),
            failure=None,
            revert_failure=None,
            past_failures=past,
            result=None,
            progress=None,
            elements=(),
            after=after,
            flow=scope,
            stored=False,
            created_at=None,
            updated_at=None,
        )
    meta = atom.meta
    attempt = meta.get("attempt")
    attempt = attempt if isinstance(attempt, int) else 0
    progress = meta.get("progress")
    return AtomView(
        name=name,
        kind=kind or atom.kind.value,
        state=atom.state,
        intention=atom.intention.value,
        attempt=attempt,
        idempotency_key=f"{flow_id}:{name}:{attempt}" if attempt else None,
        attempts=tuple(_attempts(flow_id, name, _trail_of(meta))),
        failure=atom.failure,
        revert_failure=atom.revert_failure,
        past_failures=past,
        result=atom.result,
        progress=float(progress) if isinstance(progress, int | float) else None,
        elements=_elements(flow_id, name, meta),
        after=after,
        flow=scope,
        stored=True,
        created_at=atom.created_at,
        updated_at=atom.updated_at,
    )


def _timeline(detail: FlowDetail, order: Sequence[str]) -> tuple[Transition, ...]:
    entries: list[Transition] = []
    subjects: list[tuple[str | None, Mapping[str, Any]]] = [(None, detail.meta)]
    subjects.extend((atom.name, atom.meta) for atom in detail.atoms.values())
    for subject, meta in subjects:
        previous: str | None = None
        for state, at, attempt in _trail_of(meta):
            entries.append(Transition(at, subject, state, previous, attempt))
            previous = state
    # Written in one transaction, a flow starts before its atoms and ends after them, and
    # atoms are listed in the plan's order (predecessors first); sorting is stable, so one
    # atom's entries keep their order.
    position = {name: index for index, name in enumerate(order)}

    def rank(entry: Transition) -> tuple[float, int, int]:
        if entry.atom is None:
            return (entry.at, 2 if entry.state in _FLOW_ENDS else 0, 0)
        return (entry.at, 1, position.get(entry.atom, len(position)))

    entries.sort(key=rank)
    return tuple(entries)


_FLOW_ENDS = frozenset(
    {FlowState.SUCCESS, FlowState.FAILURE, FlowState.REVERTED, FlowState.SUSPENDED}
)

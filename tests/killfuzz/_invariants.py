"""What a killed-and-resumed flow must satisfy, as pure functions over evidence.

The evidence is the tasks' own effects log (one line per finished ``execute``
or ``revert``: ``event atom key pid start end outcome``), the stored flow
detail read after every kill (a :class:`Snapshot`) and at the end. Each check
returns :class:`Violation` records naming the offending lines, never raises,
so one campaign reports everything it found at once.

The promise checked:

- nothing recorded as done runs again: an attempt (idempotency key) stored
  SUCCESS never executes again later, one stored REVERTED never reverts again;
  and without a kill in between, no runner repeats an attempt at all;
- everything that ran is kept (stored SUCCESS at that attempt) or reverted,
  except what a failed revert blocks, which must stay untouched;
- two runners never execute steps of one flow at overlapping times (a
  SIGSTOPped runner finishing the body it was in once continued is the
  documented at-least-once case, allowed only if its result is not recorded);
- every stored state is one the transition tables allow, and every move
  between two snapshots is a path of those tables.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from steadyflow.persistence import AtomDetail, FlowDetail
from steadyflow.persistence.models import AtomKind
from steadyflow.states import (
    ATOM_TRANSITIONS,
    FLOW_TRANSITIONS,
    RETRY_TRANSITIONS,
    AtomState,
    FlowState,
)

__all__ = [
    "Effect",
    "Expectation",
    "Snapshot",
    "Violation",
    "check_all",
    "check_blocked",
    "check_final",
    "check_kept_or_reverted",
    "check_no_overlap",
    "check_no_repeat",
    "check_states",
    "check_zombie_silent",
    "parse_effects",
]


@dataclass(frozen=True)
class Effect:
    """One line of the effects log."""

    event: str  # "exec" or "revert"
    atom: str  # the atom's name, ``map[i]`` for a map element
    key: str  # the idempotency key of the attempt
    pid: int
    start: float
    end: float
    outcome: str  # "ok" or "fail"
    index: int  # line number in the log, from 0
    line: str

    @property
    def task(self) -> str:
        """The stored atom this effect belongs to (a map element's map)."""
        return self.atom.partition("[")[0]


@dataclass(frozen=True)
class Snapshot:
    """The stored flow (None: not created yet) when the log had ``lines`` lines."""

    lines: int
    flow: FlowDetail | None


@dataclass(frozen=True)
class Expectation:
    """How the flow must end: its state, and atoms with a fate of their own."""

    ends: FlowState
    kept: frozenset[str] = frozenset()
    never_run: frozenset[str] = frozenset()
    never_reverted: frozenset[str] = frozenset()
    revert_failed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Violation:
    """A broken promise: which one, what happened, and the evidence."""

    kind: str
    message: str
    lines: tuple[str, ...] = ()

    def __str__(self) -> str:
        evidence = "".join(f"\n      {line}" for line in self.lines[:12])
        return f"[{self.kind}] {self.message}{evidence}"


def parse_effects(lines: Sequence[str]) -> list[Effect]:
    """Parse the log; a torn or malformed line is a ValueError naming it."""
    effects = []
    for index, line in enumerate(lines):
        parts = line.split()
        if len(parts) != 7 or parts[0] not in ("exec", "revert"):
            raise ValueError(f"effects line {index} is malformed: {line!r}")
        event, atom, key, pid, start, end, outcome = parts
        effects.append(
            Effect(event, atom, key, int(pid), float(start), float(end), outcome, index, line)
        )
    return effects


def _attempt(atom: AtomDetail) -> int:
    return int(atom.meta.get("attempt", 0))


def keys_in_state(flow: FlowDetail, state: AtomState) -> set[str]:
    """Idempotency keys of attempts stored in ``state`` (map elements included)."""
    keys: set[str] = set()
    for name, atom in flow.atoms.items():
        elements = atom.meta.get("elements")
        if elements is not None:
            attempts = atom.meta.get("element_attempts") or [0] * len(elements)
            keys.update(
                f"{flow.uuid}:{name}[{i}]:{max(1, int(attempts[i]))}"
                for i, element in enumerate(elements)
                if element == state.value
            )
            continue
        if atom.state is state:
            keys.add(f"{flow.uuid}:{name}:{max(1, _attempt(atom))}")
    return keys


def check_no_repeat(
    effects: Sequence[Effect],
    snapshots: Sequence[Snapshot],
    zombies: Mapping[int, float] | None = None,
    recorded: Mapping[str, int] | None = None,
    handed: Mapping[int, frozenset[str]] | None = None,
) -> list[Violation]:
    """Nothing recorded as done (or undone) is done (undone) again.

    An attempt stored SUCCESS in a snapshot must not execute in any later line;
    one stored REVERTED must not revert again. And one runner (pid) never runs
    the same attempt's execute or revert twice: a repeat is only excusable by
    a kill in between, which means another pid.

    The one excuse is a body a paused runner was in when it was paused
    (``zombies``: pid -> when), or had handed to its executor by then
    (``handed``: pid -> keys it had stored RUNNING or REVERTING at the pause),
    finished once continued: the documented at-least-once case, as long as
    the store did not record its result (``recorded``, see :func:`recorded_by`).
    """
    zombies, recorded, handed = zombies or {}, recorded or {}, handed or {}
    found = []
    for snapshot in snapshots:
        if snapshot.flow is None:
            continue
        for event, state in (("exec", AtomState.SUCCESS), ("revert", AtomState.REVERTED)):
            done = keys_in_state(snapshot.flow, state)
            again = [
                e
                for e in effects[snapshot.lines :]
                if e.event == event
                and e.key in done
                and not _in_flight_when_paused(e, zombies, recorded, handed)
            ]
            if again:
                found.append(
                    Violation(
                        f"{event}-after-recorded",
                        f"{len(again)} {event} line(s) after the store recorded them as "
                        f"{state.value} (snapshot at line {snapshot.lines})",
                        tuple(e.line for e in again),
                    )
                )
    seen: dict[tuple[str, str, int], Effect] = {}
    for effect in effects:
        first = seen.setdefault((effect.event, effect.key, effect.pid), effect)
        if first is not effect:
            found.append(
                Violation(
                    f"{effect.event}-twice-in-one-runner",
                    f"pid {effect.pid} ran {effect.event} of {effect.key} twice with no kill",
                    (first.line, effect.line),
                )
            )
    return found


def check_kept_or_reverted(
    effects: Sequence[Effect], final: FlowDetail, expect: Expectation
) -> list[Violation]:
    """Every attempt that executed to completion is kept or reverted.

    Kept means stored SUCCESS at that attempt at the end; a kept attempt must
    never have been reverted. A failed attempt has nothing to undo, so it is
    free either way. Atoms a failed revert blocks are checked by
    :func:`check_blocked` instead.
    """
    kept = keys_in_state(final, AtomState.SUCCESS)
    reverted = {e.key for e in effects if e.event == "revert"}
    found = []
    for key in dict.fromkeys(e.key for e in effects if e.event == "exec" and e.outcome == "ok"):
        task = _task_of(key)
        if key in kept and key in reverted:
            lines = tuple(e.line for e in effects if e.key == key)
            found.append(Violation("kept-but-reverted", f"{key} is SUCCESS yet reverted", lines))
        elif key not in kept and key not in reverted and task not in expect.never_reverted:
            lines = tuple(e.line for e in effects if e.key == key)
            found.append(
                Violation("lost-effect", f"{key} ran but is neither kept nor reverted", lines)
            )
    return found


def _task_of(key: str) -> str:
    atom = key.split(":")[-2]
    return atom.partition("[")[0]


def check_blocked(effects: Sequence[Effect], expect: Expectation) -> list[Violation]:
    """Atoms that must never run, or never be reverted, were left alone."""
    found = []
    ran = [e for e in effects if e.event == "exec" and e.task in expect.never_run]
    if ran:
        lines = tuple(e.line for e in ran)
        found.append(Violation("ran-switched-off", "an atom a decider switched off ran", lines))
    undone = [e for e in effects if e.event == "revert" and e.task in expect.never_reverted]
    if undone:
        found.append(
            Violation(
                "reverted-past-failed-revert",
                "an atom a failed revert blocks was reverted",
                tuple(e.line for e in undone),
            )
        )
    return found


def check_final(
    final: FlowDetail | None,
    exit_code: int | None,
    expect: Expectation,
    effects: Sequence[Effect] = (),
) -> list[Violation]:
    """The flow ended as its shape must, and the last runner said so."""
    codes = {FlowState.SUCCESS: 0, FlowState.REVERTED: 3, FlowState.FAILURE: 4}
    if final is None:
        return [Violation("never-stored", "the flow was never stored")]
    found = []
    if final.state is not expect.ends:
        found.append(
            Violation("wrong-end", f"flow ended {final.state.value}, not {expect.ends.value}")
        )
    if exit_code != codes.get(expect.ends):
        found.append(
            Violation("wrong-exit", f"the last runner exited {exit_code} for {expect.ends.value}")
        )
    for name in expect.kept:
        atom = final.atoms.get(name)
        state = atom.state.value if atom is not None else "missing"
        if state != AtomState.SUCCESS.value:
            lines = tuple(e.line for e in effects if e.task == name)
            found.append(Violation("kept-atom-undone", f"{name} ended {state}, not SUCCESS", lines))
    for name in expect.revert_failed:
        atom = final.atoms.get(name)
        state = atom.state.value if atom is not None else "missing"
        if state != AtomState.REVERT_FAILURE.value:
            found.append(Violation("revert-failure-lost", f"{name} ended {state}"))
    return found


def check_no_overlap(
    effects: Sequence[Effect],
    zombies: Mapping[int, float],
    recorded_by: Mapping[str, int],
    handed: Mapping[int, frozenset[str]] | None = None,
) -> list[Violation]:
    """No two runners executed steps of the flow at overlapping times.

    Args:
        effects: the log.
        zombies: pid -> when it was SIGSTOPped, for runners paused on purpose.
        recorded_by: atom -> pid whose result the store kept (from the result).

    A zombie's step overlapping another runner's is the at-least-once case
    (it finished the body it was in once continued) and is allowed only if
    the store did not record that zombie's result for the atom.
    """
    found = []
    ordered = sorted(effects, key=lambda e: e.start)
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if second.start >= first.end:
                break
            if second.pid == first.pid or _excused(
                first, second, zombies, recorded_by, handed or {}
            ):
                continue
            found.append(
                Violation(
                    "overlapping-runners",
                    f"pids {first.pid} and {second.pid} ran steps at the same time",
                    (first.line, second.line),
                )
            )
    return found


def _excused(
    a: Effect,
    b: Effect,
    zombies: Mapping[int, float],
    recorded: Mapping[str, int],
    handed: Mapping[int, frozenset[str]],
) -> bool:
    return any(
        (e.event == "exec" and e.pid in zombies and recorded.get(e.atom) != e.pid)
        or _in_flight_when_paused(e, zombies, recorded, handed)
        for e in (a, b)
    )


def _in_flight_when_paused(
    effect: Effect,
    zombies: Mapping[int, float],
    recorded: Mapping[str, int],
    handed: Mapping[int, frozenset[str]] | None = None,
) -> bool:
    """A body a paused runner had begun, or handed to its executor, before the pause.

    Its result must not be stored. Handed over: stored RUNNING (REVERTING) by
    then, so submitted to a worker that had not reached its first line yet
    (the engine checks its lease between the mark and the submission).

    A revert's line is judged by when it began alone: the stored result of a
    reverted atom is still its execute's, which says nothing of the revert.
    """
    paused_at = zombies.get(effect.pid)
    if paused_at is None:
        return False
    if effect.start >= paused_at and effect.key not in (handed or {}).get(effect.pid, ()):
        return False
    return effect.event == "revert" or recorded.get(effect.atom) != effect.pid


def check_zombie_silent(
    effects: Sequence[Effect], zombies: Mapping[int, float], recorded: Mapping[str, int]
) -> list[Violation]:
    """A paused runner whose lease was taken over records nothing once continued.

    Args:
        effects: the log.
        zombies: pid -> time.time() when it was SIGSTOPped.
        recorded: atom -> pid whose result the store holds (:func:`recorded_by`).
    """
    late = [
        e
        for e in effects
        if e.event == "exec"
        and e.pid in zombies
        and e.end > zombies[e.pid]
        and recorded.get(e.atom) == e.pid
    ]
    if not late:
        return []
    return [
        Violation(
            "zombie-recorded",
            "a runner continued after its lease was taken over and its result was stored",
            tuple(e.line for e in late),
        )
    ]


def _reachable(
    table: Mapping[AtomState, frozenset[AtomState]], start: AtomState, *, new_attempt: bool
) -> set[AtomState]:
    """States reachable from ``start``; PENDING->RUNNING only when a new attempt began."""
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        for target in table[state]:
            if state is AtomState.PENDING and target is AtomState.RUNNING and not new_attempt:
                continue
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _flow_reachable(start: FlowState) -> set[FlowState]:
    """Flow states reachable from ``start`` without a reset (nothing resets here)."""
    seen, todo = {start}, [start]
    while todo:
        for target in FLOW_TRANSITIONS[todo.pop()]:
            if target is not FlowState.PENDING and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


_SETTLED = {
    FlowState.SUCCESS: {AtomState.SUCCESS, AtomState.IGNORE},
    FlowState.REVERTED: {
        AtomState.REVERTED,
        AtomState.PENDING,
        AtomState.IGNORE,
        AtomState.SUCCESS,
    },
}


def _consistency(flow: FlowDetail, kept_allowed: frozenset[str]) -> list[str]:
    """What is wrong with one stored flow on its own."""
    problems = []
    allowed = _SETTLED.get(flow.state)
    for name, atom in flow.atoms.items():
        if allowed is not None and atom.state not in allowed:
            problems.append(f"flow {flow.state.value} holds {name} {atom.state.value}")
        kept = flow.state is FlowState.REVERTED and atom.state is AtomState.SUCCESS
        if kept and name not in kept_allowed:
            problems.append(f"flow REVERTED keeps {name} SUCCESS outside the kept scope")
        if flow.state is FlowState.SUCCESS and atom.meta.get("elements"):
            bad = [e for e in atom.meta["elements"] if e != AtomState.SUCCESS.value]
            if bad:
                problems.append(f"flow SUCCESS holds map {name} elements {bad}")
    if flow.state is FlowState.FAILURE and not any(
        a.state is AtomState.REVERT_FAILURE for a in flow.atoms.values()
    ):
        problems.append("flow FAILURE without any REVERT_FAILURE atom")
    return problems


def _moves(before: FlowDetail, after: FlowDetail) -> list[str]:
    """Moves between two snapshots that no path of the tables allows."""
    problems = []
    if after.state not in _flow_reachable(before.state):
        problems.append(f"flow {before.state.value} -> {after.state.value}")
    for name, old in before.atoms.items():
        new = after.atoms.get(name)
        if new is None:
            problems.append(f"{name} vanished")
            continue
        if _attempt(new) < _attempt(old):
            problems.append(f"{name} attempt {_attempt(old)} -> {_attempt(new)}")
        table = RETRY_TRANSITIONS if old.kind is AtomKind.RETRY else ATOM_TRANSITIONS
        fresh = _attempt(new) > _attempt(old) or old.kind is AtomKind.RETRY
        if new.state not in _reachable(table, old.state, new_attempt=fresh):
            problems.append(
                f"{name} {old.state.value}@{_attempt(old)} -> {new.state.value}@{_attempt(new)}"
            )
    return problems


def check_states(snapshots: Sequence[Snapshot], kept_allowed: frozenset[str]) -> list[Violation]:
    """Every stored flow is consistent, and every move between snapshots is legal."""
    found: list[Violation] = []
    flows = [(s.lines, s.flow) for s in snapshots if s.flow is not None]
    for lines, flow in flows:
        found.extend(
            Violation("impossible-state", f"{problem} (snapshot at line {lines})")
            for problem in _consistency(flow, kept_allowed)
        )
    for (_, before), (lines, after) in itertools.pairwise(flows):
        found.extend(
            Violation("illegal-move", f"{problem} (snapshot at line {lines})")
            for problem in _moves(before, after)
        )
    return found


def recorded_by(flow: FlowDetail | None) -> dict[str, int]:
    """Atom -> pid of the runner whose result the store holds (``name@pid``)."""
    if flow is None:
        return {}
    owners = {}
    for name, atom in flow.atoms.items():
        values = atom.result if isinstance(atom.result, list) else [atom.result]
        for i, value in enumerate(values):
            if isinstance(value, str) and "@" in value:
                label = f"{name}[{i}]" if isinstance(atom.result, list) else name
                owners[label] = int(value.rpartition("@")[2])
    return owners


def check_all(
    lines: Sequence[str],
    snapshots: Sequence[Snapshot],
    exit_code: int | None,
    expect: Expectation,
    *,
    zombies: Mapping[int, float] | None = None,
    handed: Mapping[int, frozenset[str]] | None = None,
) -> list[Violation]:
    """Every check above over one campaign; the last snapshot is the final state."""
    try:
        effects = parse_effects(lines)
    except ValueError as exc:
        return [Violation("torn-log", str(exc))]
    final = snapshots[-1].flow if snapshots else None
    found = check_final(final, exit_code, expect, effects)
    found += check_no_repeat(effects, snapshots, zombies, recorded_by(final), handed)
    found += check_blocked(effects, expect)
    found += check_no_overlap(effects, zombies or {}, recorded_by(final), handed)
    found += check_zombie_silent(effects, zombies or {}, recorded_by(final))
    found += check_states(snapshots, expect.kept)
    if final is not None:
        found += check_kept_or_reverted(effects, final, expect)
    return list(dict.fromkeys(found))  # a state seen in several snapshots is one finding

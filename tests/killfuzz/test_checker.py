"""The invariant checker on hand-made logs: it must catch each kind of broken promise.

A checker that passes everything would make the kill campaigns worthless, so
every check gets a log that keeps the promise (no violation) and one that
breaks it (exactly that violation).
"""

from __future__ import annotations

from typing import Any

from steadyflow.persistence import AtomDetail, FlowDetail
from steadyflow.persistence.models import AtomKind
from steadyflow.states import AtomState, FlowState

from ._invariants import (
    Expectation,
    Snapshot,
    Violation,
    check_all,
    check_no_overlap,
    check_no_repeat,
    keys_in_state,
    parse_effects,
)

S, R, V, U = AtomState.SUCCESS, AtomState.REVERTED, AtomState.REVERTING, AtomState.RUNNING


def line(event: str, atom: str, attempt: int = 1, pid: int = 100, at: float = 0.0) -> str:
    """One effects line; ``at`` is its start, each body lasting 1 s."""
    outcome = "fail" if atom.startswith("bad") and event == "exec" else "ok"
    return f"{event} {atom} f:{atom}:{attempt} {pid} {at:.6f} {at + 1:.6f} {outcome}"


def flow(state: FlowState, **atoms: tuple[AtomState, int] | AtomDetail) -> FlowDetail:
    details = [
        value
        if isinstance(value, AtomDetail)
        else AtomDetail(name=name, state=value[0], meta={"attempt": value[1]}, result=f"{name}@100")
        for name, value in atoms.items()
    ]
    return FlowDetail(uuid="f", name="shape", state=state).with_atoms(*details)


def kinds(found: list[Violation]) -> list[str]:
    return sorted(v.kind for v in found)


def check(lines: list[str], snapshots: list[Snapshot], code: int = 0, **expect: Any) -> list[str]:
    expectation = Expectation(expect.pop("ends", FlowState.SUCCESS), **expect)
    return kinds(check_all(lines, snapshots, code, expectation))


def test_a_clean_run_killed_once_keeps_every_promise() -> None:
    # Given a killed runner (pid 100) whose b was re-run under its key by pid 200
    lines = [line("exec", "a"), line("exec", "b", at=2), line("exec", "b", pid=200, at=5)]
    snapshots = [
        Snapshot(2, flow(FlowState.RUNNING, a=(S, 1), b=(U, 1))),
        Snapshot(3, flow(FlowState.SUCCESS, a=(S, 1), b=(S, 1))),
    ]
    # Then nothing is reported
    assert check(lines, snapshots) == []


def test_an_attempt_recorded_as_done_that_runs_again_is_caught() -> None:
    # Given b stored SUCCESS after the kill, and executed again by the next runner
    lines = [line("exec", "a"), line("exec", "b", at=2), line("exec", "b", pid=200, at=5)]
    snapshots = [
        Snapshot(2, flow(FlowState.RUNNING, a=(S, 1), b=(S, 1))),
        Snapshot(3, flow(FlowState.SUCCESS, a=(S, 1), b=(S, 1))),
    ]
    assert check(lines, snapshots) == ["exec-after-recorded"]


def test_a_revert_recorded_as_done_that_runs_again_is_caught() -> None:
    lines = [
        line("exec", "a"),
        line("exec", "bad"),
        line("revert", "bad", at=2),
        line("revert", "a", at=3),
        line("revert", "a", pid=200, at=6),
    ]
    snapshots = [
        Snapshot(4, flow(FlowState.REVERTING, a=(R, 1), bad=(R, 1))),
        Snapshot(5, flow(FlowState.REVERTED, a=(R, 1), bad=(R, 1))),
    ]
    assert check(lines, snapshots, 3, ends=FlowState.REVERTED) == ["revert-after-recorded"]


def test_a_paused_runner_finishing_the_body_it_was_in_is_excused_only_for_that_body() -> None:
    # Given pid 100 paused at 0.5 inside b's execute and a's revert, both finishing
    # after the successor (pid 200) recorded them, and b's stored result being 200's
    effects = parse_effects(
        [
            line("exec", "b", pid=200, at=1),
            line("revert", "a", pid=200, at=1.2),
            line("exec", "b", pid=100, at=0),
            line("revert", "a", pid=100, at=0.1),
        ]
    )
    snapshots = [Snapshot(2, flow(FlowState.RUNNING, a=(R, 1), b=(S, 1)))]
    by_200 = {"a": 100, "b": 200}  # a's stored result is still its execute's (pid 100)
    # Then without the pause both are repeats; with it, neither is
    assert kinds(check_no_repeat(effects, snapshots)) == [
        "exec-after-recorded",
        "revert-after-recorded",
    ]
    assert check_no_repeat(effects, snapshots, {100: 0.5}, by_200) == []
    # But a body begun after the pause (a's revert, paused at 0.05), or one whose
    # result was stored, still is
    assert kinds(check_no_repeat(effects, snapshots, {100: 0.05}, by_200)) == [
        "revert-after-recorded"
    ]
    assert kinds(check_no_repeat(effects, snapshots, {100: 0.5}, {"b": 100})) == [
        "exec-after-recorded"
    ]
    # Unless that later body had been handed to the executor (stored RUNNING) by the pause
    handed = {100: frozenset({"f:a:1"})}
    assert check_no_repeat(effects, snapshots, {100: 0.05}, by_200, handed) == []


def test_a_paused_runners_revert_in_flight_may_overlap_its_successor() -> None:
    # Given paused pid 100 finishing a's revert begun before its pause, while 200 reverts b
    effects = parse_effects([line("revert", "a", at=0), line("revert", "b", pid=200, at=0.5)])
    # Then that overlap is the at-least-once case; a revert begun after the pause is not
    assert check_no_overlap(effects, {100: 0.2}, {"a": 100}) == []
    assert kinds(check_no_overlap(effects, {100: 0.0}, {"a": 100})) == ["overlapping-runners"]


def test_one_runner_repeating_an_attempt_is_caught() -> None:
    lines = [line("exec", "a"), line("exec", "a", at=2)]
    assert check(lines, [Snapshot(2, flow(FlowState.SUCCESS, a=(S, 1)))]) == [
        "exec-twice-in-one-runner"
    ]


def test_an_effect_rerun_under_a_new_key_and_never_undone_is_caught() -> None:
    # Given a's first attempt ran, and after a kill it ran again as attempt 2
    lines = [line("exec", "a"), line("exec", "a", attempt=2, pid=200, at=3)]
    final = flow(FlowState.SUCCESS, a=(S, 2))
    assert check(lines, [Snapshot(2, final)]) == ["lost-effect"]


def test_a_kept_attempt_that_was_reverted_is_caught() -> None:
    lines = [line("exec", "a"), line("revert", "a", at=2)]
    assert check(lines, [Snapshot(2, flow(FlowState.SUCCESS, a=(S, 1)))]) == ["kept-but-reverted"]


def test_reverting_past_a_failed_revert_and_running_a_switched_off_atom_are_caught() -> None:
    lines = [line("exec", "a"), line("exec", "off", at=2), line("revert", "a", at=4)]
    final = flow(
        FlowState.FAILURE,
        a=(R, 1),
        off=(S, 1),
        stuck=AtomDetail(name="stuck", state=AtomState.REVERT_FAILURE, meta={"attempt": 1}),
    )
    found = check(
        lines,
        [Snapshot(3, final)],
        4,
        ends=FlowState.FAILURE,
        never_run=frozenset({"off"}),
        never_reverted=frozenset({"a"}),
        revert_failed=frozenset({"stuck"}),
    )
    # off ended SUCCESS in a FAILURE flow too: that part is the state checker's to judge
    assert found == ["ran-switched-off", "reverted-past-failed-revert"]


def test_a_wrong_ending_is_caught() -> None:
    lines = [line("exec", "o1"), line("revert", "o1", at=2)]
    final = flow(FlowState.REVERTED, o1=(R, 1))
    found = check(
        lines,
        [Snapshot(2, final)],
        0,
        ends=FlowState.FAILURE,
        kept=frozenset({"o1"}),
        revert_failed=frozenset({"stuck"}),
    )
    assert found == ["kept-atom-undone", "revert-failure-lost", "wrong-end", "wrong-exit"]


def test_two_runners_overlapping_are_caught_unless_one_is_an_unrecorded_zombie() -> None:
    # Given pid 100 and pid 200 executing at overlapping times
    effects = parse_effects([line("exec", "a", at=0), line("exec", "b", pid=200, at=0.5)])
    # Then that is a violation, unless 100 was paused and its result not stored
    assert kinds(check_no_overlap(effects, {}, {})) == ["overlapping-runners"]
    assert check_no_overlap(effects, {100: 0.2}, {"a": 200}) == []
    assert kinds(check_no_overlap(effects, {100: 0.2}, {"a": 100})) == ["overlapping-runners"]


def test_a_zombie_whose_late_result_was_stored_is_caught() -> None:
    lines = [line("exec", "a", pid=100, at=0), line("exec", "b", pid=200, at=3)]
    final = flow(FlowState.SUCCESS, a=(S, 1), b=(S, 1))  # a's result says pid 100
    zombie = check_all(
        lines, [Snapshot(2, final)], 0, Expectation(FlowState.SUCCESS), zombies={100: 0.5}
    )
    assert kinds(zombie) == ["zombie-recorded"]


def test_impossible_states_and_illegal_moves_are_caught() -> None:
    # Given a flow stored SUCCESS with a RUNNING atom, then a SUCCESS atom back to
    # RUNNING under the same attempt (only a new attempt may run again)
    snapshots = [
        Snapshot(0, flow(FlowState.SUCCESS, a=(U, 1))),
        Snapshot(0, flow(FlowState.RUNNING, a=(S, 1))),
        Snapshot(0, flow(FlowState.RUNNING, a=(U, 1))),
        Snapshot(0, flow(FlowState.RUNNING, a=(U, 2))),
        Snapshot(0, flow(FlowState.REVERTING, a=(V, 2))),
    ]
    found = check_all([], snapshots, 0, Expectation(FlowState.REVERTING))
    # Then the impossible state and the same-attempt re-run are reported (a new
    # attempt running, and a RUNNING atom reverting after it failed, are fine)
    assert kinds(found) == ["illegal-move", "impossible-state", "wrong-exit"]
    assert "a SUCCESS@1 -> RUNNING@1" in " ".join(map(str, found))


def test_map_elements_are_keyed_by_element_and_attempt() -> None:
    squares = AtomDetail(
        name="sq",
        kind=AtomKind.TASK,
        state=AtomState.RUNNING,
        meta={"attempt": 1, "elements": ["SUCCESS", "RUNNING"], "element_attempts": [2, 1]},
    )
    assert keys_in_state(flow(FlowState.RUNNING, sq=squares), S) == {"f:sq[0]:2"}


def test_a_torn_line_is_reported_not_guessed() -> None:
    assert check(["exec a f:a:1 100 0.0"], []) == ["torn-log"]

"""Revert semantics (whole flow, or TaskFlow's scope) and graph deciders."""

from __future__ import annotations

from typing import Any

import pytest

import steadyflow as sf
from steadyflow.retry import Times

from .conftest import Recorder, Step


def _nested(recorder: Recorder) -> sf.Linear:
    inner = sf.Linear(
        "inner", Step("i1", recorder), Step("i2", recorder, fail=True), retry=Times(2)
    )
    return sf.Linear("outer", Step("o1", recorder), inner, Step("o2", recorder))


def test_an_inner_retry_giving_up_reverts_everything_that_completed(recorder: Recorder) -> None:
    engine = sf.load(_nested(recorder))
    with pytest.raises(ValueError, match="i2 failed"):
        engine.run()
    assert recorder.names("revert")[-1] == "o1"
    states = engine.storage.atom_states()
    assert states["o1"] is sf.AtomState.REVERTED
    assert states["o2"] is sf.AtomState.PENDING
    assert engine.storage.flow_state is sf.FlowState.REVERTED


def test_scoped_revert_leaves_outer_tasks_done(recorder: Recorder) -> None:
    engine = sf.load(_nested(recorder), revert="scope")
    with pytest.raises(ValueError, match="i2 failed"):
        engine.run()
    states = engine.storage.atom_states()
    assert states["o1"] is sf.AtomState.SUCCESS
    assert states["i1"] is sf.AtomState.REVERTED
    assert states["inner.retry"] is sf.AtomState.REVERTED
    assert "o1" not in recorder.names("revert")
    assert engine.storage.flow_state is sf.FlowState.REVERTED


def test_scoped_revert_without_any_controller_reverts_the_flow(recorder: Recorder) -> None:
    flow = sf.Linear("l", Step("a", recorder), Step("b", recorder, fail=True))
    with pytest.raises(ValueError):
        sf.run(flow, revert="scope")
    assert recorder.names("revert") == ["b", "a"]


def test_unknown_revert_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="revert"):
        sf.load(sf.Linear("l", sf.task(lambda: None, name="t")), revert="some")  # type: ignore[arg-type]


def _switch(depth: str, go: bool) -> tuple[sf.Graph, dict[str, sf.Task]]:
    tasks: dict[str, sf.Task] = {
        "a": sf.task(lambda: go, name="a", provides="go"),
        "b": sf.task(lambda: "b", name="b", provides="y"),
        "c": sf.task(lambda y="default": y, name="c", provides="z"),
        "d": sf.task(lambda y: y, name="d", provides="w"),
    }
    graph = sf.Graph("g").add(*tasks.values())
    graph.link(tasks["a"], tasks["b"], decider=lambda history: bool(history["a"]), depth=depth)
    return graph, tasks


def test_a_decider_saying_yes_lets_the_target_run() -> None:
    graph, _ = _switch("ATOM", True)
    assert sf.run(graph) == {"go": True, "y": "b", "z": "b", "w": "b"}


def test_depth_atom_ignores_the_target_and_dependents_use_defaults() -> None:
    # c has a default for y: it runs with it; d requires y: it is ignored too
    graph, _ = _switch("ATOM", False)
    engine = sf.load(graph)
    engine.run()
    states = engine.storage.atom_states()
    assert states["b"] is sf.AtomState.IGNORE
    assert states["d"] is sf.AtomState.IGNORE
    assert engine.storage.fetch_all() == {"go": False, "z": "default"}


def test_depth_all_ignores_everything_downstream() -> None:
    graph, _ = _switch("ALL", False)
    engine = sf.load(graph)
    engine.run()
    states = engine.storage.atom_states()
    assert [states[n] for n in "bcd"] == [sf.AtomState.IGNORE] * 3
    assert engine.storage.flow_state is sf.FlowState.SUCCESS


def test_depth_flow_stays_inside_the_graph() -> None:
    # Given a graph inside a linear flow, switched off with depth FLOW
    graph, _ = _switch("FLOW", False)
    after = sf.task(lambda z="none": z, name="after", provides="final")
    engine = sf.load(sf.Linear("outer", graph, after))
    engine.run()
    states = engine.storage.atom_states()
    assert [states[n] for n in "bcd"] == [sf.AtomState.IGNORE] * 3
    assert states["after"] is sf.AtomState.SUCCESS
    assert engine.storage.fetch("final") == "none"


def test_the_decider_gets_the_source_results_by_name() -> None:
    seen: list[dict[str, Any]] = []
    a = sf.task(lambda: 41, name="a", provides="x")
    b = sf.task(lambda: None, name="b")
    graph = sf.Graph("g").add(a, b).link(a, b, decider=lambda h: not seen.append(dict(h)))  # type: ignore[func-returns-value]
    sf.run(graph, engine="parallel")
    assert seen == [{"a": 41}]

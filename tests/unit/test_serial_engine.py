"""The serial engine's lifecycle: load, compile, prepare, validate, run, rerun, reset."""

from __future__ import annotations

import pytest

import steadyflow as sf
from steadyflow.errors import EngineStateError, IllegalTransitionError, NotFoundError
from steadyflow.states import (
    ATOM_TRANSITIONS,
    ENGINE_TRANSITIONS,
    FLOW_TRANSITIONS,
    RETRY_TRANSITIONS,
    AtomState,
    check_transition,
)

from ._helpers import Journal, Step, give, state_of


def test_run_returns_every_provided_name() -> None:
    flow = sf.Linear("f", give("a", 1, "a"), give("b", 2, "b"), sf.task(lambda: None, name="c"))
    assert sf.run(flow) == {"a": 1, "b": 2}


def test_the_lifecycle_steps_run_on_demand_and_nothing_executes_before_run() -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", Step("a", journal, provides="a")))
    assert engine.state is sf.EngineState.UNDEFINED
    plan = engine.compile()
    assert [node.name for node in plan.nodes] == ["a"]
    engine.prepare()
    engine.validate()
    assert journal.entries == []
    assert engine.storage.get_state("a") is AtomState.PENDING
    engine.run()
    assert state_of(engine) is sf.EngineState.SUCCESS
    assert engine.storage.fetch("a") == "a"
    assert engine.storage.fetch_all() == {"a": "a"}


def test_run_iter_yields_the_engine_phases() -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", Step("a", journal), Step("b", journal)))
    states = list(engine.run_iter())
    assert states[0] is sf.EngineState.RESUMING
    assert states[-1] is sf.EngineState.SUCCESS
    assert {sf.EngineState.SCHEDULING, sf.EngineState.WAITING, sf.EngineState.ANALYZING} <= set(
        states
    )


def test_run_on_a_successful_engine_does_nothing() -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", Step("a", journal)))
    engine.run()
    engine.run()
    assert journal.names("execute") == ["a"]
    assert engine.state is sf.EngineState.SUCCESS


def test_run_on_a_reverted_engine_raises_until_reset() -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", Step("a", journal, fail=ValueError("no"))))
    with pytest.raises(ValueError, match="no"):
        engine.run()
    assert engine.state is sf.EngineState.REVERTED
    with pytest.raises(EngineStateError, match="reset"):
        engine.run()
    engine.reset()
    assert engine.storage.get_state("a") is AtomState.PENDING
    with pytest.raises(ValueError, match="no"):
        engine.run()
    assert journal.names("execute") == ["a", "a"]


def test_suspend_stops_between_atoms_and_run_continues() -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", *[Step(f"s{i}", journal) for i in range(4)]))
    for state in engine.run_iter():
        if state is sf.EngineState.ANALYZING and len(journal.entries) == 2:
            engine.suspend()
    assert engine.state is sf.EngineState.SUSPENDED
    assert journal.names("execute") == ["s0", "s1"]
    engine.run()
    assert state_of(engine) is sf.EngineState.SUCCESS
    assert journal.names("execute") == ["s0", "s1", "s2", "s3"]


def test_fetch_of_an_unknown_name_and_state_of_an_unknown_atom_raise() -> None:
    engine = sf.load(sf.Linear("f", give("a", 1, "a")))
    with pytest.raises(NotFoundError, match="'nope'"):
        engine.storage.fetch("nope")
    with pytest.raises(NotFoundError, match="'ghost'"):
        engine.storage.get_state("ghost")


def test_load_refuses_what_is_not_a_flow_an_unknown_engine_and_a_bad_store() -> None:
    journal = Journal()
    with pytest.raises(sf.errors.InvalidAtomError, match="wrap a single task"):
        sf.load(Step("a", journal))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown engine 'turbo'"):
        sf.load(sf.Linear("f"), engine="turbo")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="store must be a mapping"):
        sf.load(sf.Linear("f"), store=[1, 2])  # type: ignore[arg-type]


def test_every_transition_table_covers_every_state_and_illegal_moves_raise() -> None:
    for table, enum in (
        (ATOM_TRANSITIONS, AtomState),
        (RETRY_TRANSITIONS, AtomState),
        (FLOW_TRANSITIONS, sf.FlowState),
        (ENGINE_TRANSITIONS, sf.EngineState),
    ):
        assert set(table) <= set(enum)
        for targets in table.values():
            assert set(targets) <= set(enum)
    check_transition(ATOM_TRANSITIONS, AtomState.PENDING, AtomState.RUNNING, "a")
    with pytest.raises(IllegalTransitionError, match="SUCCESS -> RUNNING"):
        check_transition(ATOM_TRANSITIONS, AtomState.SUCCESS, AtomState.RUNNING, "a")
    with pytest.raises(IllegalTransitionError):
        check_transition(FLOW_TRANSITIONS, sf.FlowState.SUCCESS, sf.FlowState.RUNNING, "f")


def test_states_are_str_enums() -> None:
    assert AtomState.SUCCESS == "SUCCESS"
    assert sf.FlowState.REVERTED == "REVERTED"
    assert sf.EngineState.SUSPENDED == "SUSPENDED"

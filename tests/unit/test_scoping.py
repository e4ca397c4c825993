"""Where an input comes from: inject, then the nearest visible provider, then the store."""

from __future__ import annotations

import pytest

import steadyflow as sf
from steadyflow.errors import AmbiguousProviderError, MissingRequirementError

from ._helpers import give, use


def test_a_nested_flow_shadows_an_outer_provider_for_its_own_consumers() -> None:
    # outer provides "region" = "eu"; the nested flow provides its own "region" = "us"
    flow = sf.Linear(
        "outer",
        give("outer-region", "eu", "region"),
        sf.Linear(
            "inner",
            give("inner-region", "us", "region"),
            use("inner-reader", "region", provides="inner_saw"),
        ),
        use("outer-reader", "region", provides="outer_saw"),
    )
    results = sf.run(flow)
    assert results["inner_saw"] == {"region": "us"}
    # after the nested flow, the nearest preceding provider is the nested one
    assert results["outer_saw"] == {"region": "us"}


def test_a_consumer_inside_a_nested_flow_sees_the_outer_provider_when_none_is_nearer() -> None:
    flow = sf.Linear(
        "outer",
        give("outer-region", "eu", "region"),
        sf.Unordered("inner", use("reader", "region", provides="saw")),
    )
    assert sf.run(flow)["saw"] == {"region": "eu"}


def test_sibling_branches_of_a_graph_see_their_own_nearest_provider() -> None:
    left = sf.Linear("left", give("left-x", "L", "x"), use("left-reader", "x", provides="l"))
    right = sf.Linear("right", give("right-x", "R", "x"), use("right-reader", "x", provides="r"))
    results = sf.run(sf.Unordered("both", left, right))
    assert results["l"] == {"x": "L"}
    assert results["r"] == {"x": "R"}


def test_a_provider_wins_over_the_store_and_inject_wins_over_both() -> None:
    # Given a store value and a provider of the same name, then a consumer and a pinned one
    flow = sf.Linear(
        "f",
        give("maker", "provided", "x"),
        use("reader", "x", provides="plain"),
        sf.task(lambda x: x, name="pinned", provides="pinned", inject={"x": "injected"}),
    )
    engine = sf.load(flow, store={"x": "stored"})

    # When it runs
    engine.run()

    # Then data flow wins over the store, inject over both, and the results agree
    results = engine.storage.fetch_all()
    assert results["plain"] == {"x": "provided"}
    assert results["pinned"] == "injected"
    assert results["x"] == "provided"
    assert engine.storage.fetch("x") == "provided"


def test_a_consumer_that_runs_before_the_provider_still_sees_the_store() -> None:
    # Given a consumer placed before the provider of the name it needs
    flow = sf.Linear(
        "f",
        use("early", "x", provides="early_saw"),
        give("maker", "provided", "x"),
        use("late", "x", provides="late_saw"),
    )

    # When it runs with the name in the store
    results = sf.run(flow, store={"x": "stored"})

    # Then the early consumer got the store's value and the late one the provider's
    assert results["early_saw"] == {"x": "stored"}
    assert results["late_saw"] == {"x": "provided"}


def test_the_nearest_provider_of_an_outer_flow_wins_over_the_store_inside_a_nested_one() -> None:
    # Given an outer provider and a consumer nested two flows deeper
    flow = sf.Linear(
        "outer",
        give("maker", "eu", "region"),
        sf.Linear("mid", sf.Unordered("inner", use("reader", "region", provides="saw"))),
    )

    # When it runs with a store value of the same name, Then the provider wins
    assert sf.run(flow, store={"region": "us"})["saw"] == {"region": "eu"}


def test_a_graph_consumer_gets_its_provider_over_the_store() -> None:
    # Given a graph ordered by data, with the provided name also in the store
    flow = sf.Graph("g", use("reader", "x", provides="saw"), give("maker", "provided", "x"))

    # When it runs, Then the consumer reads the provider's value
    assert sf.run(flow, store={"x": "stored"})["saw"] == {"x": "provided"}


def test_the_store_is_the_fallback_when_a_decider_switches_the_provider_off() -> None:
    # Given a provider a decider switches off (itself only), and a consumer after it
    gate = give("gate", False, "open")
    maker = give("maker", "provided", "x")
    reader = use("reader", "x", provides="saw")
    flow = sf.Graph("g", gate, maker, reader).link(
        gate, maker, decider=lambda h: bool(h["gate"]), depth=sf.Depth.ATOM
    )

    # When it runs with the name in the store
    engine = sf.load(flow, store={"x": "stored"})
    engine.run()

    # Then the provider is ignored and the consumer falls back to the store's value
    assert engine.storage.get_state("maker") is sf.AtomState.IGNORE
    assert engine.storage.fetch("saw") == {"x": "stored"}


def test_a_store_value_does_not_settle_an_ambiguity_between_providers() -> None:
    # Given two unordered providers of one name and a consumer after both
    flow = sf.Linear(
        "f",
        sf.Unordered("both", give("a", 1, "x"), give("b", 2, "x")),
        use("reader", "x"),
    )

    # When it is validated with the name in the store, Then the ambiguity is reported
    with pytest.raises(AmbiguousProviderError, match="reader"):
        sf.load(flow, store={"x": 0}).validate()


def test_a_missing_input_names_the_atom_that_provides_it_too_late() -> None:
    # Given a linear flow whose consumer comes before the provider
    flow = sf.Linear("f", use("create_vm", "ip"), give("allocate_ip", "10.0.0.1", "ip"))

    # When it is validated without a store value
    with pytest.raises(MissingRequirementError) as caught:
        sf.load(flow).validate()

    # Then the message says who provides it and that it runs after the consumer
    assert "provided by 'allocate_ip', which runs after 'create_vm'" in str(caught.value)


def test_fetch_returns_the_latest_provider_of_a_name() -> None:
    engine = sf.load(sf.Linear("f", give("p1", 1, "x"), give("p2", 2, "x")))
    engine.run()
    assert engine.storage.fetch("x") == 2
    assert engine.storage.get_result("p1") == 1

"""Where an input comes from: inject, then store, then the nearest visible provider."""

from __future__ import annotations

import steadyflow as sf

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


def test_the_store_wins_over_a_provider_and_inject_wins_over_the_store() -> None:
    flow = sf.Linear(
        "f",
        give("maker", "provided", "x"),
        use("reader", "x", provides="plain"),
        sf.task(lambda x: x, name="pinned", provides="pinned", inject={"x": "injected"}),
    )
    results = sf.run(flow, store={"x": "stored"})
    assert results["plain"] == {"x": "stored"}
    assert results["pinned"] == "injected"


def test_fetch_returns_the_latest_provider_of_a_name() -> None:
    engine = sf.load(sf.Linear("f", give("p1", 1, "x"), give("p2", 2, "x")))
    engine.run()
    assert engine.storage.fetch("x") == 2
    assert engine.storage.get_result("p1") == 1

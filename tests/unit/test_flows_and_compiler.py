"""Flows and the compiler: order, nesting, links, targets, and every static error."""

from __future__ import annotations

from typing import Any

import pytest

import steadyflow as sf
from steadyflow.errors import (
    AmbiguousProviderError,
    CycleError,
    DependencyError,
    DuplicateNameError,
    FlowError,
    InvalidAtomError,
    MissingRequirementError,
    SteadyflowError,
)

from ._helpers import Journal, Step, give, use


def test_a_linear_flow_runs_in_order() -> None:
    journal = Journal()
    flow = sf.Linear("f", *[Step(f"s{i}", journal) for i in range(5)])
    sf.run(flow)
    assert journal.names("execute") == [f"s{i}" for i in range(5)]


def test_add_returns_the_flow_and_flows_nest_to_any_depth() -> None:
    journal = Journal()
    inner: sf.Flow = sf.Linear("level-0", Step("deepest", journal))
    for depth in range(1, 20):
        inner = sf.Linear(f"level-{depth}").add(Step(f"before-{depth}", journal), inner)
    assert isinstance(inner, sf.Linear)
    sf.run(inner)
    assert journal.names("execute")[-1] == "deepest"
    assert len(journal.names("execute")) == 20


def test_an_unordered_flow_runs_everything() -> None:
    journal = Journal()
    sf.run(sf.Unordered("u", *[Step(f"s{i}", journal) for i in range(4)]))
    assert sorted(journal.names("execute")) == ["s0", "s1", "s2", "s3"]


def test_a_graph_orders_by_data_whatever_the_order_items_were_added() -> None:
    flow = sf.Graph(
        "g",
        use("report", "total", provides="report"),
        use("sum", "a", "b", provides="total"),
        give("make-b", 2, "b"),
        give("make-a", 1, "a"),
    )
    engine = sf.load(flow)
    order: list[str] = []
    engine.notifier.register(
        sf.events.ATOM_STATE,
        lambda event, d: order.append(d["atom_name"]) if d["state"] == "SUCCESS" else None,
    )
    engine.run()
    assert (
        order.index("report")
        > order.index("sum")
        > max(order.index("make-a"), order.index("make-b"))
    )
    assert engine.storage.fetch("report") == {"total": {"a": 1, "b": 2}}


def test_graph_link_adds_an_edge_the_data_does_not_imply() -> None:
    journal = Journal()
    first, second = Step("first", journal), Step("second", journal)
    graph = sf.Graph("g", second, first).link(first, second)
    sf.run(graph)
    assert journal.names("execute") == ["first", "second"]


def test_graph_link_between_items_not_in_the_graph_is_refused() -> None:
    journal = Journal()
    a, stranger = Step("a", journal), Step("stranger", journal)
    with pytest.raises(InvalidAtomError, match="stranger"):
        sf.Graph("g", a).link(a, stranger)


def test_graph_target_runs_only_the_target_and_what_it_depends_on() -> None:
    journal = Journal()
    needed = Step("needed", journal, provides="x")
    target = Step("target", journal, requires=["x"])
    unrelated = Step("unrelated", journal)
    graph = sf.Graph("g", needed, target, unrelated).target(target)
    sf.run(graph)
    assert journal.names("execute") == ["needed", "target"]


def test_graph_target_must_be_in_the_graph() -> None:
    journal = Journal()
    with pytest.raises(InvalidAtomError, match="was not added"):
        sf.Graph("g", Step("a", journal)).target(Step("b", journal))


def test_the_plan_is_compiled_once_and_cached_until_the_flow_changes() -> None:
    journal = Journal()
    flow = sf.Linear("f", Step("a", journal))
    plan = sf.load(flow).compile()
    assert sf.load(flow).compile() is plan
    flow.add(Step("b", journal))
    changed = sf.load(flow).compile()
    assert changed is not plan
    assert [node.name for node in changed.nodes] == ["a", "b"]


def test_a_cycle_is_named_and_nothing_runs() -> None:
    journal = Journal()
    a = Step("a", journal, provides="x", requires=["y"])
    b = Step("b", journal, provides="y", requires=["x"])
    with pytest.raises(CycleError) as caught:
        sf.run(sf.Graph("loop", a, b))
    assert set(caught.value.cycle) == {"a", "b"}
    assert "a" in str(caught.value)
    assert "b" in str(caught.value)
    assert journal.entries == []


def test_an_explicit_link_can_close_a_cycle_too() -> None:
    journal = Journal()
    a, b, c = Step("a", journal), Step("b", journal), Step("c", journal)
    graph = sf.Graph("g", a, b, c).link(a, b).link(b, c).link(c, a)
    with pytest.raises(CycleError, match="a"):
        sf.load(graph).compile()


def test_a_missing_requirement_lists_what_is_available() -> None:
    journal = Journal()
    flow = sf.Linear("f", give("make-a", 1, "a"), use("needs", "a", "b"), Step("later", journal))
    with pytest.raises(MissingRequirementError) as caught:
        sf.run(flow, store={"s": 1})
    message = str(caught.value)
    assert "'needs'" in message
    assert "['b']" in message
    assert "available names: ['a', 's']" in message
    assert journal.entries == []


def test_a_store_value_satisfies_a_requirement_nobody_provides() -> None:
    assert sf.run(sf.Linear("f", use("needs", "b", provides="out")), store={"b": 2}) == {
        "out": {"b": 2}
    }


def test_two_unordered_providers_of_one_name_are_ambiguous_in_a_graph() -> None:
    flow = sf.Graph("g", give("p1", 1, "x"), give("p2", 2, "x"), use("consumer", "x"))
    with pytest.raises(AmbiguousProviderError) as caught:
        sf.run(flow)
    message = str(caught.value)
    assert "consumer" in message
    assert "'x'" in message
    assert "p1" in message
    assert "p2" in message


def test_in_a_linear_flow_the_nearest_preceding_provider_wins() -> None:
    flow = sf.Linear(
        "f",
        give("p1", 1, "x"),
        use("sees-1", "x", provides="first"),
        give("p2", 2, "x"),
        use("sees-2", "x", provides="second"),
    )
    results = sf.run(flow)
    assert results["first"] == {"x": 1}
    assert results["second"] == {"x": 2}
    assert results["x"] == 2


def test_duplicate_atom_names_are_refused() -> None:
    journal = Journal()
    flow = sf.Linear("f", Step("same", journal), sf.Unordered("inner", Step("same", journal)))
    with pytest.raises(DuplicateNameError, match="same"):
        sf.run(flow)


@pytest.mark.parametrize("bad", [42, "a string", None, lambda: None])
def test_a_non_atom_added_to_a_flow_is_refused(bad: Any) -> None:
    with pytest.raises(InvalidAtomError):
        sf.Linear("f", bad)
    with pytest.raises(InvalidAtomError):
        sf.Graph("g").add(bad)


def test_a_task_class_added_instead_of_an_instance_is_named() -> None:
    class Boot(sf.Task):
        def execute(self) -> None:
            return None

    with pytest.raises(InvalidAtomError, match="Boot"):
        sf.Linear("f", Boot)  # type: ignore[arg-type]


def test_every_static_error_is_a_steadyflow_error() -> None:
    for error in (
        CycleError,
        MissingRequirementError,
        AmbiguousProviderError,
        DuplicateNameError,
        InvalidAtomError,
    ):
        assert issubclass(error, FlowError)
        assert issubclass(error, SteadyflowError)
    assert issubclass(MissingRequirementError, DependencyError)

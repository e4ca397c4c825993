"""A result that does not fit its declaration is an error naming the task, and reverts."""

from __future__ import annotations

from typing import Any

import pytest

import steadyflow as sf
from steadyflow.errors import InvalidAtomError, InvalidResultError

from ._helpers import Journal, Step


def _run_with(result: Any, provides: Any) -> tuple[pytest.ExceptionInfo[Exception], Journal]:
    journal = Journal()
    flow = sf.Linear(
        "f",
        Step("before", journal),
        sf.task(lambda: result, name="shaper", provides=provides),
        Step("after", journal),
    )
    engine = sf.load(flow)
    with pytest.raises(InvalidResultError) as caught:
        engine.run()
    assert engine.state is sf.EngineState.REVERTED  # the normal revert ran
    return caught, journal


def test_a_tuple_provides_with_a_result_of_the_wrong_length() -> None:
    caught, journal = _run_with((1, 2, 3), ("a", "b"))
    assert "'shaper'" in str(caught.value)
    assert "2" in str(caught.value)
    assert journal.names("revert") == ["before"]
    assert "after" not in journal.names("execute")


def test_a_tuple_provides_with_a_result_that_is_no_sequence() -> None:
    caught, _ = _run_with(42, ("a", "b"))
    assert "'shaper'" in str(caught.value)


def test_a_dict_provides_with_a_result_lacking_a_key() -> None:
    caught, journal = _run_with({"id": 1}, {"vm": "id", "ip": "address"})
    assert "'shaper'" in str(caught.value)
    assert "address" in str(caught.value)
    assert journal.names("revert") == ["before"]


def test_a_class_passed_where_an_instance_belongs() -> None:
    with pytest.raises(InvalidAtomError, match="Step"):
        sf.Unordered("u", Step)  # type: ignore[arg-type]


@pytest.mark.parametrize("provides", [42, ["ok", ""], {"": "k"}])
def test_provides_of_the_wrong_kind_is_refused_when_declaring(provides: Any) -> None:
    with pytest.raises(InvalidAtomError):
        sf.task(lambda: None, name="t", provides=provides)


@pytest.mark.parametrize("name", ["", 42])
def test_an_atom_name_must_be_a_non_empty_string(name: Any) -> None:
    with pytest.raises(InvalidAtomError, match="name"):
        sf.task(lambda: None, name=name)


def test_a_negative_timeout_is_refused() -> None:
    with pytest.raises(InvalidAtomError, match="timeout"):
        sf.task(lambda: None, name="t", timeout=-1)

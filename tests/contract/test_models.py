"""Records and the serializer, independent of any backend."""

from __future__ import annotations

import dataclasses
import math

import pytest

from steadyflow.errors import CorruptRecordError, ResultSerializationError
from steadyflow.failure import Failure
from steadyflow.persistence import (
    AtomDetail,
    FlowDetail,
    JSONSerializer,
    LogBook,
    RetryAttempt,
    Serializer,
)
from steadyflow.states import AtomState


def _book() -> LogBook:
    failure = Failure.from_exception(ValueError("x"))
    atom = AtomDetail(
        name="a",
        failure=failure,
        history=(RetryAttempt(value=[1], failures={"a": failure}),),
        meta={"p": 1},
    )
    return LogBook(name="b").with_flows(FlowDetail(name="f", atoms={"a": atom}))


def test_to_dict_round_trips_through_json() -> None:
    book = _book()
    serializer = JSONSerializer()
    assert LogBook.from_dict(serializer.loads(serializer.dumps(book.to_dict()))) == book


def test_records_are_frozen_and_their_mappings_read_only() -> None:
    atom = AtomDetail(name="a", meta={"k": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        atom.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        atom.meta["k"] = 2  # type: ignore[index]
    assert dataclasses.replace(atom, state=AtomState.RUNNING).state is AtomState.RUNNING


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format=2), "unknown record format 2"),
        (lambda d: d.pop("state"), "state"),
        (lambda d: d.update(state="EXPLODED"), "EXPLODED"),
        (lambda d: d.update(failure={"nonsense": True}), "not a failure record"),
    ],
)
def test_bad_atom_records_raise_corrupt_record_naming_the_atom(mutate, message) -> None:  # type: ignore[no-untyped-def]
    data = AtomDetail(name="alloc").to_dict()
    mutate(data)
    with pytest.raises(CorruptRecordError, match=message) as caught:
        AtomDetail.from_dict(data)
    assert "'alloc'" in str(caught.value)


def test_bad_flow_record_names_the_flow() -> None:
    flow = FlowDetail(name="f")
    data = flow.to_dict()
    data["version"] = "many"
    with pytest.raises(CorruptRecordError, match=flow.uuid):
        FlowDetail.from_dict(data)
    with pytest.raises(CorruptRecordError):
        LogBook.from_dict([])  # type: ignore[arg-type]


def test_unsafe_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="uuid"):
        FlowDetail(uuid="../escape", name="f")
    with pytest.raises(ValueError, match="uuid"):
        LogBook(uuid="", name="b")


@pytest.mark.parametrize("value", [{1, 2}, object(), math.nan, {("tuple", "key"): 1}])
def test_json_serializer_refuses_non_json_clearly(value: object) -> None:
    with pytest.raises(ResultSerializationError, match="not JSON-serializable"):
        JSONSerializer().dumps(value)


def test_json_serializer_is_compact_and_keeps_order_and_unicode() -> None:
    serializer = JSONSerializer()
    text = serializer.dumps({"b": 1, "a": ["é", None]})
    assert text == '{"b":1,"a":["é",null]}'
    assert list(serializer.loads(text)) == ["b", "a"]
    assert isinstance(serializer, Serializer)
    with pytest.raises(CorruptRecordError):
        serializer.loads("{nope")

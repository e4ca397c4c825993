"""The behaviour every persistence backend promises, run against each of them."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from steadyflow.errors import (
    ConflictError,
    CorruptRecordError,
    NotFoundError,
    PersistenceError,
    ResultSerializationError,
)
from steadyflow.failure import Failure
from steadyflow.persistence import (
    AtomDetail,
    AtomKind,
    Backend,
    FlowDetail,
    LogBook,
    RetryAttempt,
    open_backend,
)
from steadyflow.states import AtomState, FlowState, Intention

if TYPE_CHECKING:
    from .conftest import Target

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _failure_with_cause() -> Failure:
    try:
        try:
            raise KeyError("inner ключ")
        except KeyError as inner:
            raise RuntimeError("outer 💥") from inner
    except RuntimeError as exc:
        return Failure.from_exception(exc)


def _rich_flow(name: str = "boot") -> FlowDetail:
    failure = _failure_with_cause()
    task = AtomDetail(
        name="allocate ip ✓",
        state=AtomState.REVERT_FAILURE,
        intention=Intention.REVERT,
        result={"ip": "10.0.0.1", "nested": [1, 2.5, None, True, {"ü": ["x"]}]},
        failure=failure,
        revert_result=["undone", 3],
        revert_failure=Failure.from_exception(ValueError("revert broke")),
        version="2.1",
        meta={"progress": 0.5, "attempts": 2, "timings": {"start": 1.25}},
        created_at=100.0,
        updated_at=101.5,
    )
    retry = AtomDetail(
        name="retry",
        kind=AtomKind.RETRY,
        state=AtomState.RETRYING,
        intention=Intention.RETRY,
        result=2,
        history=(
            RetryAttempt(value=1, failures={"allocate ip ✓": failure}),
            RetryAttempt(value={"delay": 0.1}, failures={}),
        ),
        created_at=99.0,
        updated_at=99.0,
    )
    return FlowDetail(
        name=name,
        state=FlowState.REVERTING,
        meta={"store": {"image": "ubuntu"}, "factory": "pkg.mod:make"},
        atoms={task.name: task, retry.name: retry},
        created_at=50.0,
        updated_at=60.0,
    )


def _saved(backend: Backend, flow: FlowDetail | None = None) -> tuple[LogBook, FlowDetail]:
    book = LogBook(name="book", meta={"owner": "tests"})
    backend.save_logbook(book)
    flow = backend.save_flow_detail(book.uuid, flow or FlowDetail(name="flow"))
    return book, flow


# -- round trips ----------------------------------------------------------------------


def test_every_field_round_trips(backend: Backend) -> None:
    # Given a logbook holding a flow whose atoms use every field
    flow = _rich_flow()
    book = LogBook(name="Bücher 📚", meta={"k": [1, {"deep": None}]}, created_at=1.0)
    # When it is saved and read back
    backend.save_logbook(book.with_flows(flow))
    loaded = backend.get_logbook(book.uuid)
    # Then everything is equal, with the flow at version 1
    assert loaded == book.with_flows(dataclasses.replace(flow, version=1))
    atom = loaded.flows[flow.uuid].atoms["allocate ip ✓"]
    assert atom.failure is not None
    assert atom.failure.cause is not None
    assert atom.failure.check(KeyError) is None
    assert atom.failure.cause.check(KeyError)
    assert atom.failure.exception is None
    assert loaded.flows[flow.uuid].atoms["retry"].history[0].failures["allocate ip ✓"] == (
        atom.failure
    )


def test_flow_and_atom_reads_agree(backend: Backend) -> None:
    book, flow = _saved(backend, _rich_flow())
    assert backend.get_flow_detail(flow.uuid) == flow
    assert backend.get_atom_details(flow.uuid) == dict(flow.atoms)
    assert backend.list_flow_details(book.uuid) == [flow]
    assert backend.list_flow_details() == [flow]
    assert backend.find_book_of(flow.uuid) == book.uuid


def test_atoms_are_listed_oldest_first_then_by_name(backend: Backend) -> None:
    _, flow = _saved(backend)
    atoms = [
        AtomDetail(name="c", created_at=2.0),
        AtomDetail(name="b", created_at=1.0),
        AtomDetail(name="a", created_at=2.0),
    ]
    backend.save_atom_details(flow.uuid, atoms)
    assert list(backend.get_atom_details(flow.uuid)) == ["b", "a", "c"]


def test_saves_merge_atoms_rather_than_replace(backend: Backend) -> None:
    # Given a stored flow with one atom
    book, flow = _saved(backend, FlowDetail(name="f", atoms={"a": AtomDetail(name="a")}))
    # When the flow row is saved without atoms, and another atom is saved
    backend.save_flow_detail(book.uuid, dataclasses.replace(flow, atoms={}, name="renamed"))
    backend.save_atom_details(flow.uuid, [AtomDetail(name="b")])
    # Then both atoms are there and the row changed
    loaded = backend.get_flow_detail(flow.uuid)
    assert sorted(loaded.atoms) == ["a", "b"]
    assert loaded.name == "renamed"


def test_atom_updates_replace_by_name(backend: Backend) -> None:
    _, flow = _saved(backend)
    atom = AtomDetail(name="a")
    backend.save_atom_details(flow.uuid, [atom])
    done = dataclasses.replace(atom, state=AtomState.SUCCESS, result={"v": 1})
    backend.save_atom_details(flow.uuid, [done])
    assert backend.get_atom_details(flow.uuid) == {"a": done}


def test_stored_state_is_a_copy(backend: Backend) -> None:
    # Given a saved atom whose result is a mutable list
    _, flow = _saved(backend)
    result: list[int] = [1]
    backend.save_atom_details(flow.uuid, [AtomDetail(name="a", result=result)])
    # When the caller mutates its list and the list it read back
    result.append(2)
    backend.get_atom_details(flow.uuid)["a"].result.append(3)
    # Then the store is unchanged
    assert backend.get_atom_details(flow.uuid)["a"].result == [1]


# -- listing, deleting --------------------------------------------------------------------


def test_logbooks_and_flows_are_listed_oldest_first_ties_by_uuid(backend: Backend) -> None:
    books = [
        LogBook(uuid="b-2", name="x", created_at=3.0),
        LogBook(uuid="b-1", name="x", created_at=1.0),
        LogBook(uuid="b-4", name="x", created_at=2.0),
        LogBook(uuid="b-3", name="x", created_at=2.0),
    ]
    for book in books:
        backend.save_logbook(book)
    assert [b.uuid for b in backend.list_logbooks()] == ["b-1", "b-3", "b-4", "b-2"]
    flows = [FlowDetail(uuid=f"f-{i}", name="f", created_at=c) for i, c in [(2, 5.0), (1, 6.0)]]
    flows.append(FlowDetail(uuid="f-0", name="f", created_at=5.0))
    for flow in flows:
        backend.save_flow_detail("b-1", flow)
    assert [f.uuid for f in backend.list_flow_details("b-1")] == ["f-0", "f-2", "f-1"]
    assert list(backend.get_logbook("b-1").flows) == ["f-0", "f-2", "f-1"]


def test_deleting_a_logbook_cascades(backend: Backend) -> None:
    book, flow = _saved(backend, FlowDetail(name="f", atoms={"a": AtomDetail(name="a")}))
    other_book, other = _saved(backend)
    backend.delete_logbook(book.uuid)
    with pytest.raises(NotFoundError):
        backend.get_flow_detail(flow.uuid)
    with pytest.raises(NotFoundError):
        backend.get_atom_details(flow.uuid)
    assert [b.uuid for b in backend.list_logbooks()] == [other_book.uuid]
    assert backend.list_flow_details() == [other]


def test_deleting_a_flow_removes_its_atoms_only(backend: Backend) -> None:
    book, flow = _saved(backend, FlowDetail(name="f", atoms={"a": AtomDetail(name="a")}))
    backend.delete_flow_detail(flow.uuid)
    with pytest.raises(NotFoundError):
        backend.get_flow_detail(flow.uuid)
    assert backend.get_logbook(book.uuid).flows == {}
    # The same uuid can be saved again, from version 0.
    again = backend.save_flow_detail(book.uuid, flow, expected_version=0)
    assert again.version == 1
    assert again.atoms == flow.atoms


def test_missing_records_raise_not_found_which_is_a_lookup_error(backend: Backend) -> None:
    calls: list[Callable[[], object]] = [
        lambda: backend.get_logbook("nope"),
        lambda: backend.delete_logbook("nope"),
        lambda: backend.get_flow_detail("nope"),
        lambda: backend.delete_flow_detail("nope"),
        lambda: backend.find_book_of("nope"),
        lambda: backend.get_atom_details("nope"),
        lambda: backend.list_flow_details("nope"),
        lambda: backend.save_atom_details("nope", [AtomDetail(name="a")]),
        lambda: backend.save_flow_detail("nope", FlowDetail(name="f")),
        lambda: backend.get_flow_detail("../../etc/passwd"),
    ]
    for call in calls:
        with pytest.raises(LookupError) as caught:
            call()
        assert isinstance(caught.value, NotFoundError)


# -- versions and conflicts ----------------------------------------------------------------


def test_versions_count_flow_row_saves(backend: Backend) -> None:
    book = LogBook(name="b")
    flow = FlowDetail(name="f")
    backend.save_logbook(book.with_flows(flow))
    assert backend.get_flow_detail(flow.uuid).version == 1
    assert backend.save_flow_detail(book.uuid, flow, expected_version=1).version == 2
    backend.save_atom_details(flow.uuid, [AtomDetail(name="a")])  # atoms: no bump
    backend.save_logbook(book.with_flows(flow))
    assert backend.get_flow_detail(flow.uuid).version == 3


def test_stale_expected_version_conflicts_and_changes_nothing(backend: Backend) -> None:
    # Given a flow two writers loaded at version 1
    book, flow = _saved(backend)
    first = backend.save_flow_detail(
        book.uuid, dataclasses.replace(flow, state=FlowState.RUNNING), expected_version=1
    )
    # When the second writes with its stale version
    with pytest.raises(ConflictError, match="version 2"):
        backend.save_flow_detail(
            book.uuid,
            dataclasses.replace(flow, state=FlowState.FAILURE, atoms={"x": AtomDetail(name="x")}),
            expected_version=1,
        )
    # Then the first writer's state stands, and no atom was written
    assert backend.get_flow_detail(flow.uuid) == first


def test_expected_version_zero_means_not_stored_yet(backend: Backend) -> None:
    book = LogBook(name="b")
    backend.save_logbook(book)
    flow = FlowDetail(name="f")
    with pytest.raises(ConflictError):
        backend.save_flow_detail(book.uuid, flow, expected_version=4)
    assert backend.save_flow_detail(book.uuid, flow, expected_version=0).version == 1
    with pytest.raises(ConflictError):
        backend.save_flow_detail(book.uuid, flow, expected_version=0)


def test_a_flow_cannot_move_to_another_logbook(backend: Backend) -> None:
    book, flow = _saved(backend)
    other = LogBook(name="other")
    backend.save_logbook(other)
    with pytest.raises(ConflictError, match=book.uuid):
        backend.save_flow_detail(other.uuid, flow)
    with pytest.raises(ConflictError):
        backend.save_logbook(other.with_flows(flow))
    assert backend.find_book_of(flow.uuid) == book.uuid


# -- the atom batch ---------------------------------------------------------------------------


def test_a_batch_that_cannot_be_serialized_stores_nothing(backend: Backend) -> None:
    # Given a stored atom
    _, flow = _saved(backend)
    backend.save_atom_details(flow.uuid, [AtomDetail(name="a", result=1)])
    # When a batch updates it but another atom's result is not JSON
    batch = [AtomDetail(name="a", result=2), AtomDetail(name="bad", result={1, 2})]
    with pytest.raises(ResultSerializationError, match="bad"):
        backend.save_atom_details(flow.uuid, batch)
    # Then none of the batch is stored
    assert {n: a.result for n, a in backend.get_atom_details(flow.uuid).items()} == {"a": 1}


def test_readers_never_see_half_a_batch(backend: Backend) -> None:
    # Given a writer saving batches where atoms a and b always agree
    _, flow = _saved(backend)
    backend.save_atom_details(flow.uuid, [AtomDetail(name=n, result=0) for n in "ab"])
    stop = threading.Event()
    seen: list[tuple[object, object]] = []

    def read() -> None:
        while not stop.is_set():
            atoms = backend.get_atom_details(flow.uuid)
            seen.append((atoms["a"].result, atoms["b"].result))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(1, 30):
            backend.save_atom_details(flow.uuid, [AtomDetail(name=n, result=i) for n in "ab"])
    finally:
        stop.set()
        reader.join()
    # Then every read saw a whole batch
    assert seen
    assert all(a == b for a, b in seen)


def test_an_empty_batch_is_a_no_op(backend: Backend) -> None:
    backend.save_atom_details("not-even-a-flow", [])
    assert backend.statistics().atom_batches == 0


def test_statistics_count_batches(backend: Backend) -> None:
    _, flow = _saved(backend)
    backend.save_atom_details(flow.uuid, [AtomDetail(name="a"), AtomDetail(name="b")])
    stats = backend.statistics()
    assert (stats.atom_batches, stats.atoms_saved, stats.flow_saves) == (1, 2, 1)
    assert stats.atom_batch_seconds > 0


# -- damage ----------------------------------------------------------------------------------


def test_a_corrupt_record_is_named_and_others_still_load(backend: Backend, target: Target) -> None:
    # Given two flows, one of which gets damaged in the store
    book, bad = _saved(backend, FlowDetail(name="bad", atoms={"a": AtomDetail(name="a")}))
    good = backend.save_flow_detail(
        book.uuid, FlowDetail(name="good", atoms={"a": AtomDetail(name="a")})
    )
    target.corrupt_atom(backend, bad.uuid, "a")
    # When both are read
    with pytest.raises(CorruptRecordError, match=bad.uuid):
        backend.get_flow_detail(bad.uuid)
    # Then the damaged one is named, and the other is intact
    assert backend.get_flow_detail(good.uuid) == good


# -- life cycle -------------------------------------------------------------------------------


def test_a_closed_backend_refuses_work(target: Target) -> None:
    backend = open_backend(target.url)
    backend.close()
    backend.close()  # idempotent
    assert backend.closed
    with pytest.raises(PersistenceError, match="closed"):
        backend.list_logbooks()


def test_data_survives_reopening(backend: Backend, target: Target) -> None:
    if not backend.is_durable:
        pytest.skip("not a durable store")
    _, flow = _saved(backend, _rich_flow())
    with open_backend(target.url) as reopened:
        assert reopened.get_flow_detail(flow.uuid) == flow

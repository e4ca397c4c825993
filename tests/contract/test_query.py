"""Listing, filtering, paging and counting flows, the same on every backend."""

from __future__ import annotations

import contextlib

import pytest

from steadyflow.errors import NotFoundError
from steadyflow.persistence import AtomDetail, Backend, FlowDetail, LogBook
from steadyflow.persistence.query import (
    FlowFilter,
    count_flows,
    find_flow,
    list_flows,
    scan_counts,
    scan_summaries,
)
from steadyflow.states import AtomState, FlowState

# (uuid, name, state, created_at): two books, tied timestamps, names with LIKE metacharacters.
FLOWS = [
    ("a1", "boot vm", FlowState.SUCCESS, 100.0),
    ("a2", "Boot VM", FlowState.FAILURE, 200.0),
    ("b1", "resize disk", FlowState.RUNNING, 300.0),
    ("b2", "resize_disk", FlowState.SUCCESS, 300.0),
    ("b3", "100% done!", FlowState.REVERTED, 400.0),
    ("c1", "boot-vm-2", FlowState.SUSPENDED, 500.0),
    ("c10", "teardown", FlowState.PENDING, 600.0),
]


def _store(backend: Backend, flows: list[tuple[str, str, FlowState, float]] = FLOWS) -> None:
    for index, (uuid, name, state, created) in enumerate(flows):
        book = f"book{index % 2}"
        with contextlib.suppress(NotFoundError):
            backend.find_book_of(uuid)
        if not any(b.uuid == book for b in backend.list_logbooks()):
            backend.save_logbook(LogBook(uuid=book, name=book))
        atom = AtomDetail(name="t", state=AtomState.SUCCESS, result={"big": "x" * 100})
        flow = FlowDetail(uuid=uuid, name=name, state=state, created_at=created, updated_at=created)
        backend.save_flow_detail(book, flow.with_atoms(atom))


def _ids(backend: Backend, **filters: object) -> list[str]:
    page = list_flows(backend, limit=100, **filters)  # type: ignore[arg-type]
    assert page.next_cursor is None
    return [flow.uuid for flow in page.flows]


def test_lists_newest_first_with_ties_by_id_descending(backend: Backend) -> None:
    # Given flows created at various times, two at the same instant
    _store(backend)
    # When they are listed
    page = list_flows(backend)
    # Then the newest comes first, and the tie is broken by id, descending
    assert [f.uuid for f in page.flows] == ["c10", "c1", "b3", "b2", "b1", "a2", "a1"]
    first = page.flows[0]
    assert (first.name, first.state, first.created_at, first.version) == (
        "teardown",
        FlowState.PENDING,
        600.0,
        1,
    )
    assert first.book_uuid == "book0"
    assert first.to_dict()["state"] == "PENDING"


def test_filters_by_state_name_since_and_id_prefix(backend: Backend) -> None:
    _store(backend)
    assert _ids(backend, states=[FlowState.SUCCESS]) == ["b2", "a1"]
    assert _ids(backend, states=["SUCCESS", "FAILURE"]) == ["b2", "a2", "a1"]
    assert _ids(backend, states="RUNNING") == ["b1"]
    # a name is a case-insensitive substring...
    assert _ids(backend, name="boot") == ["c1", "a2", "a1"]
    assert _ids(backend, name="VM") == ["c1", "a2", "a1"]
    # ...whose LIKE metacharacters are literal
    assert _ids(backend, name="_") == ["b2"]
    assert _ids(backend, name="%") == ["b3"]
    assert _ids(backend, name="!") == ["b3"]
    # ...or, with * or ?, a glob over the whole name
    assert _ids(backend, name="boot*") == ["c1", "a2", "a1"]
    assert _ids(backend, name="boot?vm") == ["a2", "a1"]
    assert _ids(backend, name="*disk") == ["b2", "b1"]
    assert _ids(backend, name="resize") == ["b2", "b1"]
    assert _ids(backend, name="resize*_disk") == ["b2"]
    assert _ids(backend, name="disk*") == []
    assert _ids(backend, since=300.0) == ["c10", "c1", "b3", "b2", "b1"]
    assert _ids(backend, id_prefix="c1") == ["c10", "c1"]
    assert _ids(backend, id_prefix="C") == []
    # filters combine
    assert _ids(backend, states=["SUCCESS"], name="disk", since=200.0) == ["b2"]
    assert _ids(backend, name="boot", id_prefix="a", since=150.0) == ["a2"]


def test_pages_by_cursor_cover_everything_once(backend: Backend) -> None:
    _store(backend)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = list_flows(backend, limit=2, cursor=cursor)
        pages += 1
        seen.extend(flow.uuid for flow in page.flows)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["c10", "c1", "b3", "b2", "b1", "a2", "a1"]
    assert pages == 4


def test_a_cursor_pages_inside_a_tie_and_under_filters(backend: Backend) -> None:
    _store(backend)
    first = list_flows(backend, limit=3)
    assert [f.uuid for f in first.flows] == ["c10", "c1", "b3"]
    # b2 and b1 share a timestamp: the page boundary falls between them
    second = list_flows(backend, limit=1, cursor=list_flows(backend, limit=4).next_cursor)
    assert [f.uuid for f in second.flows] == ["b1"]
    successes = list_flows(backend, states=["SUCCESS"], limit=1)
    rest = list_flows(backend, states=["SUCCESS"], limit=1, cursor=successes.next_cursor)
    assert [f.uuid for f in successes.flows + rest.flows] == ["b2", "a1"]
    assert rest.next_cursor is None


def test_flows_stored_after_a_page_do_not_shift_the_next(backend: Backend) -> None:
    _store(backend)
    page = list_flows(backend, limit=3)
    # Given a newer flow stored between two page reads
    _store(backend, [("d1", "late", FlowState.PENDING, 700.0)])
    # Then the next page continues where the first stopped
    following = list_flows(backend, limit=3, cursor=page.next_cursor)
    assert [f.uuid for f in following.flows] == ["b2", "b1", "a2"]


def test_counts_by_state_with_every_state_present(backend: Backend) -> None:
    _store(backend)
    counts = count_flows(backend)
    assert set(counts) == set(FlowState)
    assert counts[FlowState.SUCCESS] == 2
    assert counts[FlowState.REVERTING] == 0
    assert sum(counts.values()) == len(FLOWS)
    boots = count_flows(backend, name="boot", since=150.0)
    assert {s: n for s, n in boots.items() if n} == {FlowState.FAILURE: 1, FlowState.SUSPENDED: 1}
    assert sum(count_flows(backend, id_prefix="b").values()) == 3


def test_an_empty_store_lists_and_counts_nothing(backend: Backend) -> None:
    page = list_flows(backend)
    assert page.flows == ()
    assert page.next_cursor is None
    assert sum(count_flows(backend).values()) == 0


def test_find_flow_by_id_or_unambiguous_prefix(backend: Backend) -> None:
    _store(backend)
    assert find_flow(backend, "c1").uuid == "c1"  # exact wins over the prefix of c10
    assert find_flow(backend, "b3").atoms["t"].result == {"big": "x" * 100}
    _store(backend, [("zeta-42", "z", FlowState.PENDING, 1.0)])
    assert find_flow(backend, "zeta").uuid == "zeta-42"
    with pytest.raises(ValueError, match=r"'b' matches several flows \(b3, b2, b1\)"):
        find_flow(backend, "b")
    with pytest.raises(NotFoundError, match="no flow nope"):
        find_flow(backend, "nope")


def test_the_generic_fallback_agrees_with_each_backend(backend: Backend) -> None:
    _store(backend)
    for where in (
        FlowFilter(),
        FlowFilter(states=frozenset({FlowState.SUCCESS, FlowState.PENDING})),
        FlowFilter(name="boot*", since=150.0),
        FlowFilter(name="_"),
        FlowFilter(id_prefix="b"),
    ):
        for after in (None, (300.0, "b2"), (300.0, "b1")):
            assert backend._list_flow_summaries(where, 4, after) == scan_summaries(
                backend, where, 4, after
            ), (where, after)
        assert backend._count_flow_states(where) == scan_counts(backend, where)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"limit": 0}, "limit must be an int from 1 to 10000"),
        ({"limit": True}, "limit must be an int"),
        ({"cursor": "garbage"}, "is not a cursor returned by list_flows"),
        ({"cursor": "nan/x"}, "is not a cursor"),
        ({"states": ["DONE"]}, "'DONE' is not a valid FlowState; flow states are: PENDING"),
    ],
)
def test_bad_arguments_are_refused_by_name(
    backend: Backend, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        list_flows(backend, **arguments)  # type: ignore[arg-type]


def test_bad_filter_types_are_refused() -> None:
    with pytest.raises(TypeError, match="since must be seconds"):
        FlowFilter(since="yesterday")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name must be a string"):
        FlowFilter(name=3)  # type: ignore[arg-type]

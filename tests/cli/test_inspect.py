"""The view model of a stored flow, for flows stored with and without a structure."""

from __future__ import annotations

import pytest

import steadyflow as sf
from steadyflow._inspect import inspect_flow
from steadyflow.engine._trail import MAX_TRANSITIONS, STRUCTURE_KEY, record_transition
from steadyflow.persistence import AtomDetail, FlowDetail, LogBook, open_backend
from steadyflow.states import AtomState, FlowState


@sf.task(provides="a")
def first() -> int:
    return 1


@sf.task
def second(a: int) -> None:
    return None


def _old_flow() -> FlowDetail:
    """A flow as an older steadyflow stored it: no structure, no transitions."""
    atoms = [
        AtomDetail(name="first", state=AtomState.SUCCESS, meta={"attempt": 1}, created_at=1.0),
        AtomDetail(name="second", state=AtomState.RUNNING, meta={"attempt": 1}, created_at=2.0),
    ]
    return FlowDetail(
        uuid="old-1",
        name="old",
        state=FlowState.RUNNING,
        meta={"format": 1, "store": {}},
        atoms={atom.name: atom for atom in atoms},
    )


def test_a_flow_stored_without_structure_is_a_flat_list() -> None:
    view = inspect_flow(_old_flow())
    assert view.structure_known is False
    assert view.root.children == ("first", "second")
    assert view.edges == ()
    assert view.transitions == ()
    assert view.done == 1
    assert view.running == ("second",)
    assert view.atoms["second"].idempotency_key == "old-1:second:1"
    assert view.atoms["second"].attempts == ()


@pytest.mark.parametrize(
    "structure",
    [
        {"format": 99, "flows": [], "atoms": []},
        {"format": 1, "flows": [["f", "linear", -1]], "atoms": [["x", "task", 5, []]]},
        {"format": 1, "flows": [["f", "linear", -1]], "atoms": [["x", "task", 0, [7]]]},
        {"format": 1, "flows": "nonsense"},
        "nonsense",
    ],
)
def test_a_damaged_structure_is_shown_as_unknown(structure: object) -> None:
    old = _old_flow()
    damaged = FlowDetail(
        uuid=old.uuid,
        name=old.name,
        state=old.state,
        meta={**old.meta, STRUCTURE_KEY: structure},
        atoms=old.atoms,
    )
    assert inspect_flow(damaged).structure_known is False


def test_resuming_an_old_flow_records_its_structure(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    with open_backend(url) as backend:
        backend.save_logbook(LogBook(uuid="book", name="book").with_flows(_old_flow()))
    flow = sf.Linear("old", first, second)
    sf.run(flow, backend=url, flow_id="old-1", lease_ttl=0.5)
    with open_backend(url) as backend:
        view = inspect_flow(backend.get_flow_detail("old-1"))
    assert view.structure_known is True
    assert view.edges == (("first", "second"),)
    assert [t.state for t in view.transitions if t.atom is None] == [
        "RESUMING",
        "RUNNING",
        "SUCCESS",
    ]
    assert view.atoms["second"].attempts[0].outcome == "SUCCESS"
    # its first RUNNING predates transitions: only the rerun is recorded
    assert view.atoms["second"].attempts[0].runs == 1


def test_a_trail_keeps_the_newest_transitions_only() -> None:
    trail: list[list[object]] = []
    for attempt in range(1, MAX_TRANSITIONS + 10):
        record_transition(trail, "RUNNING", float(attempt), attempt)
    assert len(trail) == MAX_TRANSITIONS
    assert trail[-1] == ["RUNNING", float(MAX_TRANSITIONS + 9), MAX_TRANSITIONS + 9]
    assert not record_transition(trail, "RUNNING", 999.0, MAX_TRANSITIONS + 9)
    assert record_transition(trail, "RUNNING", 999.0, MAX_TRANSITIONS + 9, again=True)

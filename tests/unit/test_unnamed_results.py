"""A task's result is kept whether or not ``provides`` names it (TaskFlow's rule)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.persistence import open_backend


def test_a_result_without_provides_is_kept_but_not_published() -> None:
    # Given a task that returns a value and names no provides
    flow = sf.Linear("f", sf.task(lambda: "vm-1", name="create_vm"))
    engine = sf.load(flow)

    # When the flow runs
    engine.run()

    # Then the run succeeds, the result is readable by atom name, and no name is published
    assert engine.state is sf.EngineState.SUCCESS
    assert engine.storage.get_result("create_vm") == "vm-1"
    assert engine.storage.fetch_all() == {}


def test_the_kept_result_is_handed_to_the_tasks_own_revert() -> None:
    # Given a task without provides whose revert wants its result, and a later failure
    reverted: list[Any] = []
    create = sf.task(
        lambda: "vm-7", name="create", revert=lambda *, result: reverted.append(result)
    )

    @sf.task
    def explode() -> None:
        raise RuntimeError("boom")

    # When the flow fails and reverts
    with pytest.raises(RuntimeError, match="boom"):
        sf.run(sf.Linear("f", create, explode))

    # Then the revert received what execute returned
    assert reverted == ["vm-7"]


def test_the_kept_result_is_in_the_success_event() -> None:
    # Given a listener capturing atom transitions
    engine = sf.load(sf.Linear("f", sf.task(lambda: 42, name="answer")))
    seen: list[Any] = []
    engine.notifier.register(
        sf.events.ATOM_STATE,
        lambda event, details: (
            seen.append(details.get("result")) if details["state"] is sf.AtomState.SUCCESS else None
        ),
    )

    # When it runs
    engine.run()

    # Then the history of the run shows the result
    assert seen == [42]


def test_the_kept_result_is_persisted_and_read_back(tmp_path: Path) -> None:
    # Given a persisted run of a task without provides
    url = f"sqlite:///{tmp_path / 'state.db'}"
    flow = sf.Linear("f", sf.task(lambda: {"id": 3}, name="make"))
    sf.run(flow, backend=url, flow_id="kept")

    # When the flow detail is read from the store, and the flow loaded again
    with open_backend(url) as backend:
        stored = backend.get_flow_detail("kept").atoms["make"].result
    with sf.load(flow, backend=url, flow_id="kept") as engine:
        loaded = engine.storage.get_result("make")

    # Then both show the result
    assert stored == {"id": 3}
    assert loaded == {"id": 3}


def test_a_result_that_cannot_be_persisted_still_fails_clearly(tmp_path: Path) -> None:
    # Given a persisted run of a task without provides returning something JSON cannot hold
    flow = sf.Linear("f", sf.task(lambda: object(), name="opaque"))

    # When it runs, Then the error names the atom (the result is persisted like any other)
    with pytest.raises(sf.errors.ResultSerializationError, match="'opaque'"):
        sf.run(flow, backend=f"sqlite:///{tmp_path / 's.db'}")

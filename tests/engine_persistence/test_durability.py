"""Durability modes: when a completion is written relative to what depends on it."""

from __future__ import annotations

from typing import Any

import pytest

import steadyflow as sf
from steadyflow.persistence import Backend
from steadyflow.states import AtomState, FlowState

from ._flows import Crash, Journal, chain
from .conftest import Opener


class Probe(sf.Task):
    """Reads the store through its own backend object while it runs."""

    def __init__(self, name: str, reader: Backend, seen: list[dict[str, AtomState]]) -> None:
        super().__init__(name)
        self.reader = reader
        self.seen = seen

    def execute(self, **_: Any) -> None:
        flow_id = sf.current_context().flow_id
        atoms = self.reader.get_flow_detail(flow_id).atoms
        self.seen.append({name: atom.state for name, atom in atoms.items()})


def test_sync_completions_are_durable_before_dependents_start(reopen: Opener) -> None:
    # Given a chain whose last task reads the store while it runs
    seen: list[dict[str, AtomState]] = []
    journal = Journal()
    flow = sf.Linear("probe", *chain(journal, ["a", "b"]).children, Probe("p", reopen(), seen))
    # When it runs with the default durability
    sf.load(flow, store={"start": 0}, backend=reopen(), flow_id="sync").run()
    # Then the task saw its predecessors' successes and its own RUNNING state
    assert seen == [{"a": AtomState.SUCCESS, "b": AtomState.SUCCESS, "p": AtomState.RUNNING}]


def test_sync_writes_one_batch_per_scheduling_round(backend: Backend) -> None:
    before = backend.statistics()
    sf.load(chain(Journal(), list("abcdefgh")), store={"start": 0}, backend=backend).run()
    after = backend.statistics()
    # 8 rounds start a task; the first and the last also write the flow row
    assert after.atom_batches - before.atom_batches == 7
    assert after.flow_saves - before.flow_saves == 3  # created, RUNNING, SUCCESS


def test_batched_groups_writes_and_ends_durable(backend: Backend) -> None:
    names = [f"t{i}" for i in range(40)]
    engine = sf.load(
        chain(Journal(), names), store={"start": 0}, backend=backend, durability="batched"
    )
    engine.run()
    stats = backend.statistics()
    detail = backend.get_flow_detail(engine.flow_id)
    assert detail.state is FlowState.SUCCESS
    assert all(detail.atoms[name].state is AtomState.SUCCESS for name in names)
    assert stats.atom_batches < 10


def test_batched_crash_reruns_what_was_not_written(reopen: Opener) -> None:
    # Given a batched run that dies after a few tasks (none of their states written yet)
    journal = Journal()
    journal.crash_on.add(("execute", "c"))
    first = sf.load(
        chain(journal, ["a", "b", "c"]),
        store={"start": 0},
        backend=reopen(),
        flow_id="batched",
        durability="batched",
    )
    with pytest.raises(Crash):
        first.run()
    # When it resumes, Then it finishes; unwritten tasks ran again under the same keys
    resumed = sf.load(chain(journal, ["a", "b", "c"]), backend=reopen(), flow_id="batched")
    resumed.run()
    assert resumed.storage.fetch("c") == 3
    for name in "abc":
        keys = journal.keys("execute", name)
        assert len(set(keys)) == 1, keys


def test_unknown_durability_is_refused(backend: Backend) -> None:
    with pytest.raises(ValueError, match="durability 'eventually'"):
        sf.load(chain(Journal(), ["a"]), backend=backend, durability="eventually")  # type: ignore[arg-type]

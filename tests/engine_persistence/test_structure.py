"""Resuming a flow whose definition changed, and rebuilding one from its factory."""

from __future__ import annotations

import pytest

import steadyflow as sf
from steadyflow.errors import IncompatibleFlowError, NotFoundError
from steadyflow.persistence import Backend
from steadyflow.states import AtomState

from ._flows import Crash, Journal, chain, doubled
from .conftest import Opener


def _crash_in(journal: Journal, names: list[str], at: str, backend: Backend) -> None:
    journal.crash_on.add(("execute", at))
    engine = sf.load(chain(journal, names), store={"start": 0}, backend=backend, flow_id="s")
    with pytest.raises(Crash):
        engine.run()


def test_new_atoms_run_and_vanished_ones_are_left_alone(reopen: Opener) -> None:
    # Given a run of a, b, c, d that died in c
    journal = Journal()
    _crash_in(journal, ["a", "b", "c", "d"], "c", reopen())
    # When it resumes as a, c, e (b and d gone, e new): e's input is c's result
    backend = reopen()
    resumed = sf.load(chain(journal, ["a", "c", "e"]), backend=backend, flow_id="s")
    resumed.run()
    # Then a is skipped, c re-runs, e runs, and b's stored record is untouched
    assert journal.names("execute") == ["a", "b", "c", "c", "e"]
    stored = backend.get_flow_detail("s").atoms
    assert stored["b"].state is AtomState.SUCCESS
    assert "d" not in stored  # never started, never written
    assert stored["e"].state is AtomState.SUCCESS


def test_a_changed_version_is_refused_by_default(reopen: Opener) -> None:
    journal = Journal()
    _crash_in(journal, ["a", "b"], "b", reopen())
    with pytest.raises(IncompatibleFlowError, match=r"atom 'a' .* changed version from '1.0'"):
        sf.load(chain(journal, ["a", "b"], version="2.0"), backend=reopen(), flow_id="s").prepare()


def test_a_changed_version_can_be_accepted(reopen: Opener) -> None:
    journal = Journal()
    _crash_in(journal, ["a", "b"], "b", reopen())
    backend = reopen()
    flow = chain(journal, ["a", "b"], version="2.0")
    sf.load(flow, backend=backend, flow_id="s", on_version_change="accept").run()
    assert journal.names("execute") == ["a", "b", "b"]
    assert backend.get_flow_detail("s").atoms["a"].version == "2.0"


def test_load_from_backend_rebuilds_the_flow_from_its_factory(reopen: Opener) -> None:
    # Given a flow saved with its factory, suspended after its first task
    factory = "engine_persistence._flows:doubled"
    first = sf.load(
        doubled(3),
        store={"n0": 1},
        backend=reopen(),
        factory=factory,
        factory_args=[3],
        flow_id="fac",
    )
    for state in first.run_iter():
        if state is sf.EngineState.ANALYZING:
            first.suspend()
    assert first.storage.get_state("d0") is AtomState.SUCCESS
    # When it is loaded from the store alone
    with sf.load_from_backend(reopen(), "fac") as resumed:
        resumed.run()
        # Then it finishes with the stored store
        assert resumed.storage.fetch_all() == {"n1": 2, "n2": 4, "n3": 8}


def test_load_from_backend_accepts_a_function_and_a_url(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/f.db"
    with sf.load(
        doubled(2),
        store={"n0": 3},
        backend=url,
        factory=doubled,
        factory_kwargs={"size": 2},
        flow_id="fn",
    ) as engine:
        engine.prepare()
    with sf.load_from_backend(url, "fn") as resumed:
        resumed.run()
        assert resumed.storage.fetch("n2") == 12


def test_load_from_backend_bad_input(backend: Backend) -> None:
    with pytest.raises(NotFoundError, match="no flow detail missing"):
        sf.load_from_backend(backend, "missing")
    with pytest.raises(ValueError, match="not a valid flow id"):
        sf.load_from_backend(backend, "../etc")
    with pytest.raises(TypeError, match="backend must be a URL"):
        sf.load_from_backend(42, "x")  # type: ignore[arg-type]
    sf.load(chain(Journal(), ["a"]), store={"start": 0}, backend=backend, flow_id="nf").prepare()
    with pytest.raises(IncompatibleFlowError, match="saved without a factory"):
        sf.load_from_backend(backend, "nf")
    sf.load(
        doubled(1),
        store={"n0": 1},
        backend=backend,
        flow_id="bad-factory",
        factory="engine_persistence._flows:not_a_flow",
    ).prepare()
    with pytest.raises(IncompatibleFlowError, match="not a steadyflow flow"):
        sf.load_from_backend(backend, "bad-factory")


def test_engine_level_bad_input(backend: Backend) -> None:
    flow = chain(Journal(), ["a"])
    with pytest.raises(ValueError, match="not a valid flow id"):
        sf.load(flow, backend=backend, flow_id="no spaces allowed")
    with pytest.raises(TypeError, match="not int"):
        sf.load(flow, backend=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="module-level function"):
        sf.load(flow, backend=backend, factory=lambda: flow)
    with pytest.raises(ValueError, match=r"package\.module:function"):
        sf.load(flow, backend=backend, factory="no_colon")
    with pytest.raises(ValueError, match="on_version_change"):
        sf.load(flow, backend=backend, on_version_change="maybe")  # type: ignore[arg-type]


def test_a_flow_filed_in_its_own_logbook_resumes_without_naming_it(reopen: Opener) -> None:
    # Given a flow saved with its factory in logbook "nightly", suspended half-way
    first = sf.load(
        doubled(2),
        store={"n0": 1},
        backend=reopen(),
        flow_id="in-book",
        book="nightly",
        factory="engine_persistence._flows:doubled",
        factory_args=[2],
    )
    for state in first.run_iter():
        if state is sf.EngineState.ANALYZING:
            first.suspend()
    # When it is resumed from the store alone, Then it finishes in that logbook
    backend = reopen()
    with sf.load_from_backend(backend, "in-book") as resumed:
        resumed.run()
    assert backend.find_book_of("in-book") == "nightly"
    assert backend.get_flow_detail("in-book").state is sf.FlowState.SUCCESS

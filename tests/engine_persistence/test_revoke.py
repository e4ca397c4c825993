"""sf.revoke() on stored flows, over every backend: revert here, or leave a stored request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.engine._revoke import read_request, request_id
from steadyflow.errors import (
    FlowRevokedError,
    IncompatibleFlowError,
    NotFoundError,
    RevertFailedError,
)
from steadyflow.persistence import Backend
from steadyflow.states import AtomState, FlowState

from ._revoke_flows import chain, effects

FACTORY = "engine_persistence._revoke_flows:chain"


def _store(backend: Backend, log: Path, flow_id: str, **options: Any) -> sf.Engine:
    return sf.load(
        chain(str(log)),
        backend=backend,
        flow_id=flow_id,
        factory=FACTORY,
        factory_args=[str(log)],
        **options,
    )


def test_revoking_a_successful_flow_undoes_it_in_reverse_order(
    backend: Backend, tmp_path: Path
) -> None:
    # Given a stored flow that ran to SUCCESS
    log = tmp_path / "effects.log"
    with _store(backend, log, "done-flow") as engine:
        engine.run()
    # When it is revoked
    outcome = sf.revoke(backend, "done-flow", "tenant left", requested_by="ops")
    # Then every task was undone once, last first, and nothing ran again
    assert outcome == ("done-flow", "reverted", FlowState.REVERTED)
    assert effects(log) == [
        ("exec", "a"), ("exec", "b"), ("exec", "c"),
        ("revert", "c"), ("revert", "b"), ("revert", "a"),
    ]  # fmt: skip
    stored = backend.get_flow_detail("done-flow")
    assert stored.state is FlowState.REVERTED
    assert {atom.state for atom in stored.atoms.values()} == {AtomState.REVERTED}
    # And the record says who revoked it and why; a second revoke has nothing to do
    assert stored.meta["recovery"]["revoke"] == {"reason": "tenant left", "requested_by": "ops"}
    assert sf.revoke(backend, "done-flow").outcome == "already-reverted"
    assert len(effects(log)) == 6


def test_revoking_a_flow_whose_revert_failed_tries_the_failed_revert_again(
    backend: Backend, tmp_path: Path
) -> None:
    # Given a stored flow that ended FAILURE: c failed, then b's revert failed (a is blocked)
    log = tmp_path / "effects.log"
    fail, bad_revert = Path(f"{log}.fail-c"), Path(f"{log}.bad-revert-b")
    fail.touch()
    bad_revert.touch()
    with _store(backend, log, "failed-flow") as engine, pytest.raises(RevertFailedError):
        engine.run()
    assert backend.get_flow_detail("failed-flow").state is FlowState.FAILURE
    # When the cause is fixed and the flow is revoked
    fail.unlink()
    bad_revert.unlink()
    outcome = sf.revoke(backend, "failed-flow", "clean up")
    # Then b's revert is tried again, then a's, and nothing else is run or undone
    assert outcome.state is FlowState.REVERTED
    assert effects(log)[3:] == [("revert", "c"), ("revert", "b"), ("revert", "b"), ("revert", "a")]


def test_a_revoke_of_a_held_flow_is_stored_and_obeyed_by_the_next_runner(
    backend: Backend, tmp_path: Path
) -> None:
    # Given a flow suspended after "a", whose lease another runner holds now
    log = tmp_path / "effects.log"
    with _store(backend, log, "held-flow") as engine:

        def suspend_after_a(event: sf.events.Event, details: Any) -> None:
            if details.get("atom_name") == "a" and details.get("state") is AtomState.SUCCESS:
                engine.suspend()

        engine.notifier.register(sf.events.Event.ATOM_STATE, suspend_after_a)
        engine.run()
    lease = backend.acquire_lease("held-flow", "another-runner", 30)
    # When it is revoked, then only a request is stored: the flow is not ours to write
    outcome = sf.revoke(backend, "held-flow", "stop", requested_by="ops")
    assert outcome == ("held-flow", "requested", FlowState.SUSPENDED)
    request = read_request(backend, "held-flow")
    assert request is not None
    assert (request.reason, request.requested_by) == ("stop", "ops")
    # When the holder lets go and the flow is resumed as usual
    backend.release_lease(lease)
    with (
        sf.load_from_backend(backend, "held-flow") as resumed,
        pytest.raises(FlowRevokedError, match="revoked by ops: stop"),
    ):
        resumed.run()
    # Then it reverted instead of running forward, and the request is gone
    assert effects(log) == [("exec", "a"), ("revert", "a")]
    assert backend.get_flow_detail("held-flow").state is FlowState.REVERTED
    assert read_request(backend, "held-flow") is None
    with pytest.raises(NotFoundError):
        backend.get_flow_detail(request_id("held-flow"))


def test_revoke_names_what_is_wrong_with_its_input(backend: Backend) -> None:
    with pytest.raises(NotFoundError, match=r"no flow detail nope in .*; nothing to revoke"):
        sf.revoke(backend, "nope")
    with pytest.raises(ValueError, match="is not a valid flow id"):
        sf.revoke(backend, "bad id!")
    with pytest.raises(TypeError, match="revoke reason must be a string"):
        sf.revoke(backend, "nope", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="backend must be a URL"):
        sf.revoke(3, "nope")  # type: ignore[arg-type]


def test_revoke_of_a_flow_saved_without_factory_says_how_to_undo_it(
    backend: Backend, tmp_path: Path
) -> None:
    # Given a stored flow without a factory
    log = tmp_path / "effects.log"
    with sf.load(chain(str(log)), backend=backend, flow_id="no-factory") as engine:
        engine.run()
    # When it is revoked, then the error says it cannot be rebuilt, and nothing was undone
    with pytest.raises(IncompatibleFlowError, match="saved without a factory"):
        sf.revoke(backend, "no-factory")
    assert backend.get_flow_detail("no-factory").state is FlowState.SUCCESS
    # And the engine's own revoke undoes it where the flow is at hand
    with sf.load(chain(str(log)), backend=backend, flow_id="no-factory") as engine:
        engine.revoke("by hand", raise_error=False)
        engine.run()
    assert effects(log)[3:] == [("revert", "c"), ("revert", "b"), ("revert", "a")]

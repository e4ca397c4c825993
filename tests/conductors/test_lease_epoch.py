"""The engine's side of a claim: ``lease_epoch=`` takes the flow's lease with that token."""

from __future__ import annotations

import pytest

import steadyflow as sf
from steadyflow.errors import FlowLockedError, LeaseLostError
from steadyflow.persistence import Backend

from ._flows import chain


def test_a_run_holds_the_lease_with_exactly_the_given_epoch(backend: Backend, log: str) -> None:
    seen: list[int | None] = []

    @sf.task
    def look() -> None:
        lease = backend.get_lease("flow-e")
        seen.append(None if lease is None else lease.epoch)

    sf.run(sf.Linear("f", look), backend=backend, flow_id="flow-e", lease_epoch=7)
    assert seen == [7]


def test_a_larger_epoch_takes_the_flow_from_a_live_holder(backend: Backend, log: str) -> None:
    # Given a runner (a conductor whose claim was taken over) holding the flow's lease
    zombie = backend.acquire_lease("flow-z", "zombie", 30)
    # When a run comes with a larger epoch (the new claim's)
    sf.run(chain(log, "z"), backend=backend, flow_id="flow-z", lease_epoch=zombie.epoch + 1)
    # Then it ran, and the old holder can neither renew nor write any more
    with pytest.raises(LeaseLostError):
        backend.renew_lease(zombie)
    assert backend.get_flow_detail("flow-z").state is sf.FlowState.SUCCESS


def test_an_epoch_not_past_the_stored_one_is_refused(backend: Backend, log: str) -> None:
    backend.release_lease(backend.acquire_lease("flow-s", "earlier", 30, epoch=4))
    with pytest.raises(FlowLockedError, match="epoch"):
        sf.run(chain(log, "s"), backend=backend, flow_id="flow-s", lease_epoch=4)


def test_a_dropped_lease_stops_the_run_and_refuses_a_new_one(backend: Backend, log: str) -> None:
    engine = sf.load(chain(log, "d"), backend=backend, flow_id="flow-d", lease_epoch=1)
    engine._drop_lease("the claim was lost")
    with pytest.raises(LeaseLostError, match="the claim was lost"):
        engine.run()
    engine.close()


@pytest.mark.parametrize("epoch", [0, -1, True, 1.5, "2"])
def test_a_bad_epoch_is_refused(backend: Backend, log: str, epoch: object) -> None:
    with pytest.raises(ValueError, match="lease_epoch"):
        sf.load(chain(log, "b"), backend=backend, lease_epoch=epoch)  # type: ignore[arg-type]


def test_an_epoch_without_a_backend_is_refused(log: str) -> None:
    with pytest.raises(ValueError, match="backend"):
        sf.load(chain(log, "n"), lease_epoch=3)

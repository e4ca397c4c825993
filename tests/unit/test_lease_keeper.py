"""LeaseKeeper: renews in the background, notices a lost lease, releases on stop."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest

from steadyflow.errors import BackendUnavailableError, FlowLockedError, LeaseLostError
from steadyflow.persistence import Lease, MemoryBackend
from steadyflow.persistence.leases import LeaseKeeper, process_owner


class UnreachableMemoryBackend(MemoryBackend):
    """A memory store whose renewals fail as if its server were down, once told to."""

    def __init__(self) -> None:
        super().__init__()
        self.down = threading.Event()

    def _renew_lease(self, lease: Lease) -> Lease:
        if self.down.is_set():
            raise BackendUnavailableError("the store cannot be reached (test)")
        return super()._renew_lease(lease)


def _wait_for(condition: Callable[[], bool], *, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def _kept(backend: MemoryBackend, ttl: float, **kwargs: object) -> LeaseKeeper:
    started = time.monotonic()
    lease = backend.acquire_lease("flow-1", process_owner(), ttl)
    return LeaseKeeper(backend, lease, acquired_at=started, **kwargs).start()  # type: ignore[arg-type]


def test_the_keeper_renews_past_the_ttl() -> None:
    # Given a kept lease of a short ttl
    backend = MemoryBackend()
    keeper = _kept(backend, 0.3)
    first_expiry = keeper.lease.expires_at
    # When several renewals went by
    _wait_for(lambda: keeper.renewals >= 3)
    # Then the lease is still ours, with a later expiry, and nobody else gets it
    keeper.check()
    assert keeper.lease.expires_at > first_expiry
    assert keeper.epoch == keeper.lease.epoch
    with pytest.raises(FlowLockedError):
        backend.acquire_lease("flow-1", "other", 60.0)
    keeper.stop()


def test_a_takeover_is_noticed_through_a_refused_renewal() -> None:
    # Given a kept lease
    backend = MemoryBackend()
    lost: list[LeaseLostError] = []
    keeper = _kept(backend, 0.3, on_lost=lost.append)
    # When someone takes the flow over with a newer epoch
    backend.acquire_lease("flow-1", "other", 60.0, epoch=keeper.epoch + 1)
    # Then the keeper's next renewal finds out, once
    _wait_for(lambda: keeper.lost is not None)
    assert lost == [keeper.lost]
    with pytest.raises(LeaseLostError):
        keeper.check()
    # And stopping it does not release the new holder's lease
    keeper.stop()
    current = backend.get_lease("flow-1")
    assert current is not None
    assert current.owner == "other"


def test_an_unreachable_store_loses_the_lease_at_expiry() -> None:
    # Given a kept lease whose store stops answering
    backend = UnreachableMemoryBackend()
    keeper = _kept(backend, 0.3)
    backend.down.set()
    # When the lease's ttl passes without a renewal getting through
    _wait_for(lambda: keeper.lost is not None)
    # Then the keeper declares it lost, naming the expiry
    with pytest.raises(LeaseLostError, match="expired"):
        keeper.check()
    assert keeper.lost is not None
    assert keeper.lost.epoch == keeper.epoch
    keeper.stop()


def test_stopping_releases_the_lease() -> None:
    backend = MemoryBackend()
    keeper = _kept(backend, 60.0)
    assert backend.get_lease("flow-1") is not None
    keeper.stop()
    keeper.stop()  # idempotent
    assert backend.get_lease("flow-1") is None
    assert backend.acquire_lease("flow-1", "next", 60.0).epoch > keeper.epoch


def test_stopping_without_release_keeps_the_lease() -> None:
    backend = MemoryBackend()
    keeper = _kept(backend, 60.0)
    keeper.stop(release=False)
    current = backend.get_lease("flow-1")
    assert current is not None
    assert current.epoch == keeper.epoch


def test_owner_ids_are_random_per_process() -> None:
    owner = process_owner()
    assert owner == process_owner()
    assert owner.endswith(f".{os.getpid()}")
    assert len(owner.split(".")[0]) == 16


def test_check_raises_once_the_lease_may_have_expired_even_before_the_thread_notices() -> None:
    # Given a keeper that never renewed, for a lease acquired a ttl ago
    backend = MemoryBackend()
    lease = backend.acquire_lease("flow-1", process_owner(), 60.0)
    lost: list[LeaseLostError] = []
    keeper = LeaseKeeper(
        backend, lease, acquired_at=time.monotonic() - lease.ttl, on_lost=lost.append
    )
    # When the holder checks, Then it is told the lease is gone, every time
    for _ in range(2):
        with pytest.raises(LeaseLostError, match="expired"):
            keeper.check()
    assert len(lost) == 1

"""Leases and fenced writes: the behaviour every backend promises, run against each."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import pytest

from steadyflow.errors import FlowLockedError, LeaseLostError, NotFoundError
from steadyflow.persistence import AtomDetail, Backend, FlowDetail, LogBook, open_backend
from steadyflow.states import AtomState

if TYPE_CHECKING:
    from .conftest import Target

T = TypeVar("T")

SHORT_TTL = 0.3
LONG_TTL = 60.0


def _stored_flow(backend: Backend) -> tuple[str, FlowDetail]:
    book = LogBook(name="book")
    backend.save_logbook(book)
    flow = backend.save_flow_detail(book.uuid, FlowDetail(name="flow"))
    return book.uuid, flow


def _eventually(attempt: Callable[[], T], *, within: float = 10.0) -> T:
    """The first result of ``attempt`` that does not raise FlowLockedError."""
    deadline = time.monotonic() + within
    while True:
        try:
            return attempt()
        except FlowLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- exclusion ----------------------------------------------------------------------------


def test_a_live_lease_is_exclusive_even_for_its_own_owner(backend: Backend) -> None:
    # Given a lease held by "a"
    lease = backend.acquire_lease("flow-1", "a", LONG_TTL)
    # When "a" itself or "b" asks again, Then both are refused
    for owner in ("a", "b"):
        with pytest.raises(FlowLockedError) as caught:
            backend.acquire_lease("flow-1", owner, LONG_TTL)
        assert caught.value.flow_id == "flow-1"
        assert caught.value.holder == "a"
        assert caught.value.expires_at == pytest.approx(lease.expires_at, abs=1.0)
    # And other flows are independent
    assert backend.acquire_lease("flow-2", "b", LONG_TTL).owner == "b"


def test_get_lease_shows_the_live_lease_only(backend: Backend) -> None:
    assert backend.get_lease("flow-1") is None
    lease = backend.acquire_lease("flow-1", "a", LONG_TTL)
    seen = backend.get_lease("flow-1")
    assert seen is not None
    assert (seen.owner, seen.epoch) == ("a", lease.epoch)
    assert seen.expires_at == pytest.approx(lease.expires_at, abs=1.0)
    assert 0 < seen.ttl <= LONG_TTL
    backend.release_lease(lease)
    assert backend.get_lease("flow-1") is None


def test_release_then_acquire_gives_a_larger_epoch(backend: Backend) -> None:
    epochs = []
    for _ in range(4):
        lease = backend.acquire_lease("flow-1", "a", LONG_TTL)
        epochs.append(lease.epoch)
        backend.release_lease(lease)
    assert epochs == sorted(set(epochs))
    assert epochs[0] >= 1


def test_epochs_survive_deleting_the_flow(backend: Backend) -> None:
    # Given a stored flow leased once
    _, flow = _stored_flow(backend)
    first = backend.acquire_lease(flow.uuid, "a", LONG_TTL)
    backend.release_lease(first)
    # When the flow is deleted and leased again
    backend.delete_flow_detail(flow.uuid)
    second = backend.acquire_lease(flow.uuid, "a", LONG_TTL)
    # Then the epoch still grew: a zombie of the first lease stays fenced out
    assert second.epoch > first.epoch


def test_an_expired_lease_is_taken_over_and_not_before(backend: Backend) -> None:
    # Given a short lease held by "a"
    lease = backend.acquire_lease("flow-1", "a", SHORT_TTL)
    # When "b" polls for it
    taken = _eventually(lambda: backend.acquire_lease("flow-1", "b", LONG_TTL))
    # Then "b" got it only once the lease had expired, under a larger epoch
    assert time.time() >= lease.expires_at - 0.25  # the store's clock vs ours, on one host
    assert taken.owner == "b"
    assert taken.epoch > lease.epoch


def test_renewal_extends_the_lease(backend: Backend) -> None:
    lease = backend.acquire_lease("flow-1", "a", SHORT_TTL)
    renewed = backend.renew_lease(lease)
    assert renewed.epoch == lease.epoch
    assert renewed.owner == "a"
    assert renewed.expires_at >= lease.expires_at
    # Renewing for longer keeps "b" out well past the first expiry.
    longer = backend.renew_lease(
        type(lease)(lease.flow_uuid, lease.owner, lease.epoch, LONG_TTL, lease.expires_at)
    )
    assert longer.expires_at > lease.expires_at + 10
    time.sleep(SHORT_TTL + 0.1)
    with pytest.raises(FlowLockedError):
        backend.acquire_lease("flow-1", "b", LONG_TTL)


def test_an_expired_lease_nobody_took_can_still_be_renewed(backend: Backend) -> None:
    lease = backend.acquire_lease("flow-1", "a", 0.05)
    time.sleep(0.3)
    assert backend.get_lease("flow-1") is None
    renewed = backend.renew_lease(lease)
    assert renewed.epoch == lease.epoch
    assert backend.get_lease("flow-1") is not None


def test_after_a_takeover_the_old_holder_can_neither_renew_nor_release(backend: Backend) -> None:
    # Given "a"'s lease expired and "b" took the flow over
    old = backend.acquire_lease("flow-1", "a", SHORT_TTL)
    new = _eventually(lambda: backend.acquire_lease("flow-1", "b", LONG_TTL))
    # When "a" renews, Then it learns it lost the lease
    with pytest.raises(LeaseLostError) as caught:
        backend.renew_lease(old)
    assert (caught.value.flow_id, caught.value.epoch) == ("flow-1", old.epoch)
    # When "a" releases, Then nothing happens to "b"'s lease
    backend.release_lease(old)
    current = backend.get_lease("flow-1")
    assert current is not None
    assert (current.owner, current.epoch) == ("b", new.epoch)


def test_a_released_lease_cannot_be_renewed(backend: Backend) -> None:
    lease = backend.acquire_lease("flow-1", "a", LONG_TTL)
    backend.release_lease(lease)
    backend.release_lease(lease)  # idempotent
    with pytest.raises(LeaseLostError):
        backend.renew_lease(lease)


def test_an_issued_epoch_preempts_only_when_larger(backend: Backend) -> None:
    # Given a live lease
    held = backend.acquire_lease("flow-1", "a", LONG_TTL)
    # When a claim brings an epoch that is not larger, Then it is refused
    with pytest.raises(FlowLockedError) as caught:
        backend.acquire_lease("flow-1", "b", LONG_TTL, epoch=held.epoch)
    assert caught.value.holder == "a"
    # When it brings a larger one, Then it takes the flow with exactly that epoch
    taken = backend.acquire_lease("flow-1", "b", LONG_TTL, epoch=held.epoch + 10)
    assert (taken.owner, taken.epoch) == ("b", held.epoch + 10)
    with pytest.raises(LeaseLostError):
        backend.renew_lease(held)
    # And the next plain acquisition continues from it
    backend.release_lease(taken)
    assert backend.acquire_lease("flow-1", "c", LONG_TTL).epoch == held.epoch + 11


_BAD_ARGUMENTS = [
    ("", 1.0, None),
    (None, 1.0, None),
    ("a", 0, None),
    ("a", -1.0, None),
    ("a", "5", None),
    ("a", True, None),
    ("a", float("nan"), None),
    ("a", 1.0, "3"),
    ("a", 1.0, True),
]


def test_bad_arguments_are_refused(backend: Backend) -> None:
    for owner, ttl, epoch in _BAD_ARGUMENTS:
        with pytest.raises(ValueError, match="lease"):
            backend.acquire_lease("flow-1", owner, ttl, epoch=epoch)  # type: ignore[arg-type]
    assert backend.get_lease("flow-1") is None


# -- fenced writes ---------------------------------------------------------------------------


def test_writes_under_the_current_epoch_are_saved(backend: Backend) -> None:
    book_uuid, flow = _stored_flow(backend)
    lease = backend.acquire_lease(flow.uuid, "a", LONG_TTL)
    atom = AtomDetail(name="t", state=AtomState.RUNNING)
    backend.save_atom_details(flow.uuid, [atom], epoch=lease.epoch)
    saved = backend.save_flow_detail(
        book_uuid, FlowDetail(name="renamed", uuid=flow.uuid), epoch=lease.epoch
    )
    stored = backend.get_flow_detail(flow.uuid)
    assert stored.name == "renamed"
    assert stored.version == saved.version
    assert stored.atoms["t"].state is AtomState.RUNNING


def test_writes_under_a_stale_epoch_are_refused_and_invisible(backend: Backend) -> None:
    # Given "a"'s lease taken over by a larger epoch
    book_uuid, flow = _stored_flow(backend)
    old = backend.acquire_lease(flow.uuid, "a", LONG_TTL)
    new = backend.acquire_lease(flow.uuid, "b", LONG_TTL, epoch=old.epoch + 1)
    before = backend.get_flow_detail(flow.uuid)
    # When "a" writes atoms or the flow with its old epoch, Then both are refused
    atom = AtomDetail(name="t", state=AtomState.SUCCESS, result=1)
    with pytest.raises(LeaseLostError) as caught:
        backend.save_atom_details(flow.uuid, [atom], epoch=old.epoch)
    assert (caught.value.flow_id, caught.value.epoch) == (flow.uuid, old.epoch)
    changed = FlowDetail(name="zombie", uuid=flow.uuid, atoms={"t": atom})
    with pytest.raises(LeaseLostError):
        backend.save_flow_detail(book_uuid, changed, epoch=old.epoch)
    # And nothing of it is visible
    assert backend.get_flow_detail(flow.uuid) == before
    # While the new holder's writes go through
    backend.save_atom_details(flow.uuid, [atom], epoch=new.epoch)
    assert backend.get_flow_detail(flow.uuid).atoms["t"].result == 1


def test_writes_after_release_or_without_any_lease_are_refused(backend: Backend) -> None:
    _, flow = _stored_flow(backend)
    atom = AtomDetail(name="t")
    with pytest.raises(LeaseLostError):
        backend.save_atom_details(flow.uuid, [atom], epoch=1)
    lease = backend.acquire_lease(flow.uuid, "a", LONG_TTL)
    backend.release_lease(lease)
    with pytest.raises(LeaseLostError):
        backend.save_atom_details(flow.uuid, [atom], epoch=lease.epoch)
    assert backend.get_flow_detail(flow.uuid).atoms == {}


def test_unfenced_writes_ignore_leases(backend: Backend) -> None:
    _, flow = _stored_flow(backend)
    backend.acquire_lease(flow.uuid, "a", LONG_TTL)
    backend.save_atom_details(flow.uuid, [AtomDetail(name="t")])
    assert "t" in backend.get_flow_detail(flow.uuid).atoms


def test_a_fenced_write_to_a_missing_flow_is_not_found(backend: Backend) -> None:
    lease = backend.acquire_lease("no-such-flow", "a", LONG_TTL)
    with pytest.raises(NotFoundError):
        backend.save_atom_details("no-such-flow", [AtomDetail(name="t")], epoch=lease.epoch)


def test_a_fenced_first_save_creates_the_flow(backend: Backend) -> None:
    book = LogBook(name="book")
    backend.save_logbook(book)
    flow = FlowDetail(name="new")
    lease = backend.acquire_lease(flow.uuid, "a", LONG_TTL)
    saved = backend.save_flow_detail(book.uuid, flow, expected_version=0, epoch=lease.epoch)
    assert saved.version == 1


# -- across backend objects ---------------------------------------------------------------


def test_two_backend_objects_share_leases(backend: Backend, target: Target) -> None:
    if not backend.leases_across_processes:
        pytest.skip("a memory store is private to its backend object")
    with open_backend(target.url) as second:
        lease = backend.acquire_lease("flow-1", "a", LONG_TTL)
        with pytest.raises(FlowLockedError):
            second.acquire_lease("flow-1", "b", LONG_TTL)
        backend.release_lease(lease)
        assert second.acquire_lease("flow-1", "b", LONG_TTL).epoch > lease.epoch


def test_closing_a_backend_keeps_its_leases(target: Target) -> None:
    if not target.cross_process:
        pytest.skip("a memory store dies with its backend object")
    with open_backend(target.url) as other:
        first = open_backend(target.url)
        lease = first.acquire_lease("flow-1", "a", LONG_TTL)
        first.close()
        current = other.get_lease("flow-1")
        assert current is not None
        assert current.epoch == lease.epoch

"""Lease and BackendStatistics: immutable values, compared by their fields."""

from __future__ import annotations

import pickle

import pytest

from steadyflow.persistence import BackendStatistics, Lease


def test_a_lease_is_an_immutable_value() -> None:
    lease = Lease("f", "me", 3, 30.0, 1000.0)
    assert lease == Lease(flow_uuid="f", owner="me", epoch=3, ttl=30.0, expires_at=1000.0)
    assert hash(lease) == hash(Lease("f", "me", 3, 30.0, 1000.0))
    assert lease != Lease("f", "me", 4, 30.0, 1000.0)
    assert lease != ("f", "me", 3, 30.0, 1000.0)
    assert repr(lease) == ("Lease(flow_uuid='f', owner='me', epoch=3, ttl=30.0, expires_at=1000.0)")
    with pytest.raises(AttributeError, match="immutable"):
        lease.epoch = 4
    with pytest.raises(AttributeError, match="immutable"):
        del lease.owner
    assert pickle.loads(pickle.dumps(lease)) == lease


def test_a_renewed_lease_keeps_everything_but_its_expiry() -> None:
    lease = Lease("f", "me", 3, 30.0, 1000.0)
    assert lease.renewed(1030.0) == Lease("f", "me", 3, 30.0, 1030.0)


def test_statistics_default_to_zero_and_compare_by_value() -> None:
    assert BackendStatistics() == BackendStatistics(0, 0, 0.0, 0, 0)
    assert BackendStatistics(loads=2).loads == 2
    assert "atom_batches=0" in repr(BackendStatistics())

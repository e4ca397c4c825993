"""Every flow shape, SIGKILLed at random moments and resumed until it ends.

Each campaign kills a fresh runner at a random moment (right after it
started, or a few effects in, plus 0-4 ms) until the per-backend budget of
kills landed (over up to four flows: short shapes end first), letting each
flow finish, and checks the invariants of :mod:`._invariants` from the
effects log and the store snapshots. A failure names the seed: replay its
decisions (not its timing) with
``STEADYFLOW_KILLFUZZ_SEED=<seed> pytest tests/killfuzz -k <shape>``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import steadyflow
from steadyflow.persistence import open_backend

from ._harness import RunnerServer, fuzz, sigkill
from ._shapes import SHAPES
from .conftest import tally

pytestmark = pytest.mark.crash

# Kills per shape, per backend: 12 shapes x (10 + 9 + 9) is 336 kills per
# full run, in about 110 s on the 2-core machine (measured; the summary pytest
# prints at the end counts them).
BUDGET = {"sqlite": 10, "postgresql": 9, "mysql": 9}
# Once leases are merged, a killed runner's lease blocks the next one this long
# (about 90 s over a full run); a runner that loses so short a lease to a
# hiccup of the machine stops with LeaseLostError and is resumed.
LEASE_TTL = 0.25


def lease_ttl() -> float | None:
    """A short lease for every runner once the backend has leases, else none."""
    return LEASE_TTL if hasattr(steadyflow.persistence.Backend, "acquire_lease") else None


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_flow_killed_at_random_ends_as_promised(
    shape: str, fuzz_url: str, tmp_path: Path, runner_server: RunnerServer
) -> None:
    # Given a fresh store
    kind = fuzz_url.split(":")[0]
    backend = open_backend(fuzz_url)
    try:
        # When runners of the shape's flows are SIGKILLed at random moments and
        # resumed until each flow ends
        campaigns = fuzz(
            shape,
            fuzz_url,
            backend,
            runner_server,
            tmp_path,
            sigkill,
            BUDGET[kind],
            lease_ttl=lease_ttl(),
        )
        reports = [(campaign, campaign.violations()) for campaign in campaigns]
    finally:
        backend.close()
    for campaign, found in reports:
        tally(kind, "sigkill", campaign, len(found))
    # Then the effects and every stored state keep the promise
    failed = [campaign.describe(found) for campaign, found in reports if found]
    assert not failed, "\n".join(failed)
    # (and the kills did land: a harness that stopped killing would prove nothing)
    kills = sum(campaign.kills for campaign in campaigns)
    assert kills >= BUDGET[kind] // 2, f"only {kills} kills landed, seed {campaigns[0].seed}"

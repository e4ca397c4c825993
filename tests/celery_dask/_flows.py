"""Flow factories of the Celery and Dask tests (saved with persisted flows, rebuilt by name)."""

from __future__ import annotations

import steadyflow as sf
from workers import _tasks


def make_then_slow() -> sf.Flow:
    """make (with a revert), then slow: a flow to revoke while slow runs."""
    return sf.Linear("r", _tasks.make, _tasks.slow)

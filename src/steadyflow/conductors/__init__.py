"""Conductors: processes that claim jobs from a board and run their flows to an end.

A :class:`Conductor` claims jobs from a :class:`~steadyflow.jobs.JobBoard`,
keeps each claim renewed on its own schedule, rebuilds each job's flow from
its factory and runs it (or resumes it from the store) under the claim's
epoch, then completes, abandons or trashes the job. Start several, on as
many machines as you like: a job runs on one conductor at a time, and one
that dies has its jobs taken over once their claims expire (docs/jobs.md).

The names are loaded on first use, so that the ``steadyflow conductor``
command's parser (``steadyflow.conductors._cli``) costs nothing to build.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from steadyflow.conductors._run import Outcome
    from steadyflow.conductors.conductor import Conductor, ConductorStatistics

__all__ = ["Conductor", "ConductorStatistics", "Outcome"]

_HOMES = {
    "Conductor": "steadyflow.conductors.conductor",
    "ConductorStatistics": "steadyflow.conductors.conductor",
    "Outcome": "steadyflow.conductors._run",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

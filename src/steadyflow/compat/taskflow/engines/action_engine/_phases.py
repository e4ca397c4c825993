"""steadyflow's engine phases, yielded in TaskFlow's rhythm.

steadyflow enters SCHEDULING once more after the last task succeeded, to
find nothing left, where TaskFlow goes from ANALYZING straight to SUCCESS:
that SCHEDULING is held back. Every other phase is yielded at once, before
the atoms it schedules run, as TaskFlow does.
"""

from __future__ import annotations

from collections.abc import Iterator

import steadyflow as sf

__all__ = ["taskflow_phases"]

_ENDS = frozenset({"SUCCESS", "REVERTED", "FAILURE", "SUSPENDED"})


def taskflow_phases(native: sf.Engine, timeout: float | None) -> Iterator[str]:
    """Run ``native``, yielding its phases as TaskFlow's engine yields them."""
    held: str | None = None
    for state in native.run_iter(timeout=timeout):
        name = str(state)
        if held is not None and name not in _ENDS:
            yield held
        held = None
        if name == "SCHEDULING" and _nothing_left(native.storage):
            held = name
            continue
        yield name


def _nothing_left(storage: sf.Storage) -> bool:
    """Whether the run can only end: still RUNNING, and every atom done or skipped."""
    if str(storage.flow_state) != "RUNNING":
        return False
    return all(str(state) in ("SUCCESS", "IGNORE") for state in storage.atom_states().values())

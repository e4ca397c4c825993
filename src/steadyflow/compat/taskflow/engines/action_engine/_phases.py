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
    finished: _Finished | None = None
    for state in native.run_iter(timeout=timeout):
        if finished is None:
            # Read once the run holds the lease: it loads the flow's storage afresh then.
            finished = _Finished(native.storage)
        name = str(state)
        if held is not None and name not in _ENDS:
            yield held
        held = None
        if name == "SCHEDULING" and finished.all_done():
            held = name
            continue
        yield name


class _Finished:
    """Answers "is every atom done or skipped?" in amortised O(1) per round.

    A cursor walks the atoms in plan order past those already done; a round
    only looks at the atoms it has not passed yet. Once the cursor reaches the
    end, one full pass confirms it (a retry may have reset atoms behind it).
    """

    _DONE = frozenset({"SUCCESS", "IGNORE"})

    def __init__(self, storage: sf.Storage) -> None:
        self._storage = storage
        self._names = list(storage.atom_states())
        self._cursor = 0

    def all_done(self) -> bool:
        storage = self._storage
        if str(storage.flow_state) != "RUNNING":
            return False
        names, done = self._names, self._DONE
        while self._cursor < len(names) and str(storage.get_state(names[self._cursor])) in done:
            self._cursor += 1
        if self._cursor < len(names):
            return False
        if all(str(state) in done for state in storage.atom_states().values()):
            return True
        self._cursor = 0
        return False

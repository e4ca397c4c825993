"""What the engine loop does once a run is revoked: stop, then revert everything.

The loop reads :attr:`Machine.revoke` once per scheduling round and hands
over to :func:`obey_revoke` when it is set; nothing here runs per atom. The
request itself (and its stored form) is :mod:`steadyflow.engine._revoke`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from steadyflow.engine._recovery import REVERT_ALL
from steadyflow.states import AtomState, FlowState

if TYPE_CHECKING:
    from steadyflow.engine._machine import Machine

__all__ = ["obey_revoke"]


def obey_revoke(m: Machine) -> None:
    """Act on a revoke: stop starting atoms, then revert everything that completed.

    Atoms that run are given up on as a run timeout does (or, with ``wait``,
    left to finish first: called again each round until they have). A revert
    already under way (a failure's, or a retry's) finishes first and then
    becomes the revoke's; no retry controller is asked about anything any more.
    """
    revoke = m.revoke
    assert revoke is not None
    if m.revoking:
        if m.revert_todo is None and m.executor.in_flight == 0:
            _revert_everything(m)  # the atoms it waited for have finished
        return
    m.revoking = True
    m.recovery.changed()
    m.timers = []
    if m.revert_todo is not None:
        if m.recovery.mode != REVERT_ALL:
            m.after_revert = lambda: _revert_everything(m)
        return
    if not revoke.wait:
        failure = revoke.failure(m.plan.flow_name)
        for job in m.executor.abandon():
            if not job.revert and m.storage.states[job.node] is AtomState.RUNNING:
                m._fail_quietly(job.node, failure)
                m.maps.abandon(job.node)
    m.run_failures.extend(f for i in m.failed if (f := m.storage.failures[i]))
    m.failed = []
    if m.executor.in_flight == 0:
        _revert_everything(m)


def _revert_everything(m: Machine) -> None:
    """Revert the whole flow (trying failed reverts again), then end revoked."""
    # Reverts that failed in a scope's revert just finished block their predecessors.
    failed = dict(m.revert_failed) if m.revert_todo is not None else {}
    m.revert_todo = None
    m.failed = []
    if m.storage.flow_state is not FlowState.REVERTING:
        m._set_flow(FlowState.REVERTING)
    m._begin_revert(range(len(m.nodes)), m._finish_revert_all, REVERT_ALL, (), failed)

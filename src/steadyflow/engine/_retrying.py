"""What a failure leads to: asking retry controllers, then reverting a scope or the flow.

A failed atom's failure goes to the nearest controller in its scope chain.
RETRY reverts that controller's flow and runs it again after its backoff;
REVERT hands the failure to the next controller outward (or, with the
outermost one and scoped reverts, undoes just that flow); REVERT_ALL, or no
controller at all, reverts everything. The reverting itself is the engine
loop's (:mod:`steadyflow.engine._machine`); this module decides what to revert
and what happens once it is undone.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from steadyflow.engine._recovery import RESTART, REVERT_ALL, REVERT_SCOPE
from steadyflow.errors import EngineStateError
from steadyflow.failure import Failure
from steadyflow.retry import Decision, History, Retry
from steadyflow.states import AtomState, FlowState, Intention

if TYPE_CHECKING:
    from steadyflow.engine._machine import Machine

__all__ = ["RetryHandler"]

_A = AtomState
_FINISHED = frozenset({_A.SUCCESS, _A.IGNORE})


class RetryHandler:
    """The retry side of one run: decisions on failures, and restarting retried flows."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.controlled = {s.retry: s.members for s in machine.plan.scopes if s.retry >= 0}
        """Retry controller node -> the nodes of the flow it controls."""

    def decide(self) -> None:
        """Act on every failure collected since the last decision (none still running)."""
        m = self.machine
        failed, m.failed = m.failed, []
        failures = [f for f in (m.storage.failures[i] for i in failed) if f is not None]
        controllers: set[int] = set()
        gave_up: set[int] = set()
        revert_all = False
        for index in failed:
            decision, controller = self._consult(index)
            if decision is Decision.RETRY:
                controllers.add(controller)
            elif decision is Decision.REVERT and m.scoped_revert:
                gave_up.add(controller)
            else:
                revert_all = True
        m.run_failures = failures
        if revert_all:
            m._set_flow(FlowState.REVERTING)
            m._begin_revert(range(len(m.nodes)), m._finish_revert_all, REVERT_ALL)
            return
        if gave_up:
            self._revert_scopes(gave_up | controllers)
            return
        outermost = [c for c in controllers if not self._inside_any(c, controllers)]
        for controller in outermost:
            # Recorded so that a crash during this scope's revert resumes it.
            m.storage.intentions[controller] = Intention.RETRY
            m.storage.touch(controller)
        self._revert_then_restart(outermost)

    def resume_interrupted_retries(self) -> None:
        """Finish the reverts of retried scopes that a crash interrupted, then retry them.

        For flows stored without a recovery record: the controllers' RETRY
        intentions say which scopes were being reverted.
        """
        m = self.machine
        storage = m.storage
        controllers = [
            node.index
            for node in m.nodes
            if node.is_retry
            and storage.states[node.index] is _A.SUCCESS
            and storage.intentions[node.index] is Intention.RETRY
        ]
        if not controllers:
            return
        members = self._members_of(controllers)
        m.run_failures = [f for f in (storage.failures[i] for i in members) if f is not None]
        self.resume(RESTART, controllers, {})

    def resume(self, mode: str, controllers: list[int], failed: dict[int, Failure]) -> None:
        """Take up a revert a crash interrupted: the same mode, scopes and failed reverts."""
        m = self.machine
        if mode == REVERT_ALL:
            m.failed = []
            m._begin_revert(range(len(m.nodes)), m._finish_revert_all, REVERT_ALL, (), failed)
        elif mode == REVERT_SCOPE:
            m.failed = []
            self._revert_scopes(set(controllers), failed)
        else:
            members = self._members_of(controllers)
            m.failed = [i for i in m.failed if i not in members]
            self._revert_then_restart(controllers, failed)

    def record_failure(self, controller: int, index: int) -> None:
        """Add a node's failure to the latest attempt of ``controller`` (if any)."""
        storage = self.machine.storage
        if controller < 0 or not storage.histories[controller]:
            return
        failure = storage.failures[index]
        if failure is not None:
            attempt = storage.histories[controller][-1]
            attempt.failures[self.machine.nodes[index].name] = failure  # type: ignore[index]
            storage.touch(controller)

    # -- internals ------------------------------------------------------------------------

    def _consult(self, index: int) -> tuple[Decision, int]:
        m = self.machine
        controller = m.nodes[index].retry
        while controller >= 0:
            node = m.nodes[controller]
            atom: Retry = node.atom  # type: ignore[assignment]
            history = History(m.storage.histories[controller])
            try:
                decision = Decision(atom.on_failure(history=history, **m._arguments(controller)))
            except Exception as exc:
                m.storage.failures[controller] = Failure.from_exception(exc)
                return Decision.REVERT_ALL, -1
            if decision is not Decision.REVERT:
                return decision, controller
            if node.retry < 0:
                return Decision.REVERT, controller  # the outermost controller gave up
            controller = node.retry
            self.record_failure(controller, index)
        return Decision.REVERT_ALL, -1

    def _revert_scopes(
        self, controllers: set[int], failed: dict[int, Failure] | None = None
    ) -> None:
        """Scoped revert: undo only the flows whose controllers gave up, then end REVERTED."""
        m = self.machine
        members: set[int] = set()
        for controller in controllers:
            if not self._inside_any(controller, controllers):
                members.update(self._scope_of(controller))
        m._set_flow(FlowState.REVERTING)
        m._begin_revert(members, m._finish_revert_all, REVERT_SCOPE, controllers, failed)

    def _revert_then_restart(
        self, controllers: list[int], failed: dict[int, Failure] | None = None
    ) -> None:
        self.machine._begin_revert(
            self._members_of(controllers),
            lambda: self._restart(controllers),
            RESTART,
            controllers,
            failed,
        )

    def _members_of(self, controllers: list[int]) -> set[int]:
        """The nodes the controllers' flows hold, the controllers themselves excluded."""
        members: set[int] = set()
        for controller in controllers:
            members.update(self._scope_of(controller))
        members.difference_update(controllers)
        return members

    def _scope_of(self, controller: int) -> range:
        members = self.controlled.get(controller)
        if members is None:
            name = self.machine.nodes[controller].name
            raise EngineStateError(f"no flow owns controller {name!r}")
        return members

    def _inside_any(self, controller: int, others: set[int]) -> bool:
        return any(other != controller and controller in self._scope_of(other) for other in others)

    def _restart(self, controllers: list[int]) -> None:
        """Once their flows are reverted: reset them and wake each controller after its backoff."""
        m = self.machine
        if m.revert_failed:
            m._escalate_revert_failure()
            return
        storage = m.storage
        for controller in controllers:
            members = self._scope_of(controller)
            for index in members:
                if index == controller:
                    continue
                if storage.states[index] is not _A.PENDING:
                    storage.reset_node(index)
                if m.is_map[index]:
                    m.maps.reset(index)
                if index in storage.histories:
                    storage.histories[index].clear()
            m.deciders.forget_within(members)
            storage.set_state(controller, _A.RETRYING)
            storage.intentions[controller] = Intention.RETRY
            if m.notifier.active:
                m._atom_event(controller, _A.RETRYING, _A.SUCCESS)
            self._recount(members)
            atom: Retry = m.nodes[controller].atom  # type: ignore[assignment]
            delay = atom.delay_for(len(storage.histories[controller]), m.rng)
            m.retries += 1
            m.timer_seq += 1
            heapq.heappush(m.timers, (m.clock.monotonic() + delay, m.timer_seq, controller, -1, 0))
        m.run_failures = []
        m.revert_todo = None
        m.recovery.end()

    def _recount(self, members: range) -> None:
        """Unfinished-predecessor counts of a reset flow and of what follows it."""
        m = self.machine
        states = m.storage.states
        touched = set(members)
        for index in members:
            touched.update(m.nodes[index].succs)
        for index in touched:
            if states[index] is _A.PENDING:
                m.remaining[index] = sum(
                    1 for p in m.nodes[index].preds if states[p] not in _FINISHED
                )

"""Graph deciders at run time: whether a linked atom runs, and what a "no" switches off.

A link's decider is asked once, when its target is about to become ready,
with the results of the atoms it looks at; its answer is kept until a retry
resets the flow it is in. A "no" moves the target to IGNORE, and with it
what the decider's depth reaches: the target alone (``ATOM``), everything
after it within the decider's graph (``FLOW``), or everything after it
(``ALL``). An atom whose required input comes from an ignored atom is
ignored too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from steadyflow.states import AtomState, Intention

if TYPE_CHECKING:
    from steadyflow.engine._machine import Machine
    from steadyflow.engine._plan import DeciderRef

__all__ = ["Deciders"]

_A = AtomState


class Deciders:
    """The deciders of one run: their answers, and the atoms they switch off."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.decisions: dict[int, bool] = {}
        """Decider -> its answer, once asked."""
        self.decider_at = {d.index: d.target.start for n in machine.nodes for d in n.deciders}
        """Decider -> the first node it switches off (to forget decisions inside a retry)."""

    def should_ignore(self, index: int) -> bool:
        """Whether a node about to become ready is switched off instead."""
        m = self.machine
        for decider in m.nodes[index].deciders:
            if not self._decide(decider):
                return True
        states = m.storage.states
        return any(
            not optional and states[provider] is _A.IGNORE
            for _, provider, _, optional in m.dynamic[index]
        )

    def switch_off(self, index: int) -> None:
        """Move a switched-off node, and what its deciders' depth reaches, to IGNORE."""
        m = self.machine
        storage = m.storage
        for target in self._targets(index):
            if storage.states[target] is not _A.PENDING:
                continue
            storage.set_state(target, _A.IGNORE)
            storage.intentions[target] = Intention.IGNORE
            if m.notifier.active:
                m._atom_event(target, _A.IGNORE, _A.PENDING)

    def forget_within(self, members: Iterable[int]) -> None:
        """Drop the answers of deciders inside a flow that is being retried."""
        inside = set(members)
        for decider in [d for d in self.decisions if self.decider_at[d] in inside]:
            del self.decisions[decider]

    def _decide(self, decider: DeciderRef) -> bool:
        known = self.decisions.get(decider.index)
        if known is not None:
            return known
        m = self.machine
        states = m.storage.states
        results = m.storage.results
        history = {m.nodes[i].name: results[i] for i in decider.source if states[i] is _A.SUCCESS}
        allowed = bool(decider.fn(history))
        self.decisions[decider.index] = allowed
        return allowed

    def _targets(self, index: int) -> list[int]:
        """What a node's switch-off reaches: per the strictest failing decider's depth."""
        m = self.machine
        targets = {index}
        for decider in m.nodes[index].deciders:
            if self.decisions.get(decider.index) is not False:
                continue
            if decider.depth == "ATOM":
                targets.update(decider.target)
            elif decider.depth == "FLOW":
                targets |= m.plan.descendants(decider.target, within=decider.graph)
            else:
                targets |= m.plan.descendants(decider.target)
        return sorted(targets)

"""What a running task can learn about the attempt it is part of.

The engine sets the context around every ``execute`` and ``revert`` call, in
whichever thread or event-loop task runs it, so the same task object can be
run by several engines at once without mixing up their progress or keys.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from steadyflow.errors import EngineStateError

__all__ = ["AtomContext", "current_context"]


class AtomContext:
    """The identity of one attempt to run one atom.

    Attributes:
        flow_id: the flow detail's id (stable across resumes of a persisted flow).
        atom_name: the atom's name.
        attempt: 1 for the first execution, incremented each time a retry
            controller runs the atom again. A re-run after a crash keeps the
            number, so the idempotency key of an interrupted attempt is the
            key of its re-run.
        report_progress: sends a progress fraction to the engine's listeners.
    """

    __slots__ = ("_around", "atom_name", "attempt", "flow_id", "report_progress")

    def __init__(
        self,
        flow_id: str,
        atom_name: str,
        attempt: int,
        report_progress: Callable[[float], None],
    ) -> None:
        self.flow_id = flow_id
        self.atom_name = atom_name
        self.attempt = attempt
        self.report_progress = report_progress
        self._around: list[Callable[[], Callable[[], None]]] | None = None
        """Set by listeners before the job starts: each is called where the atom's code
        runs, just before it, and returns what to call just after (a tracer makes the
        atom's span current there). Empty for almost every run: None."""

    def __repr__(self) -> str:
        return f"<AtomContext {self.idempotency_key}>"

    @property
    def idempotency_key(self) -> str:
        """``flow_id:atom_name:attempt``, stable across a crash and resume.

        A task that makes an external side effect (charging a card, creating a
        VM) can pass this key to the remote system so that an at-least-once
        re-execution after a crash is recognised there as the same request.
        """
        return f"{self.flow_id}:{self.atom_name}:{self.attempt}"


_current: ContextVar[AtomContext | None] = ContextVar("steadyflow_atom_context", default=None)


def current_context() -> AtomContext:
    """The context of the atom running in this thread or task.

    Raises:
        EngineStateError: called outside an atom run by an engine.
    """
    context = _current.get()
    if context is None:
        raise EngineStateError("current_context() is only available inside a running atom")
    return context

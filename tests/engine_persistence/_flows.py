"""Tasks and flow factories shared by the engine persistence tests.

Tasks record what they do in a :class:`Journal` so tests can tell a task that
ran from one that was skipped on resume. :class:`Crash` is a BaseException:
the engine does not catch it, so raising it from a task stops the run the way
a dying process would, leaving in the store whatever had been flushed.
"""

from __future__ import annotations

from typing import Any

import steadyflow as sf


class Crash(BaseException):
    """Stands for the process dying: the engine lets it through untouched."""


class Journal:
    """What tasks did, in order: ``(event, atom name, idempotency key)``."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str]] = []
        self.crash_on: set[tuple[str, str]] = set()

    def record(self, event: str) -> None:
        context = sf.current_context()
        self.entries.append((event, context.atom_name, context.idempotency_key))
        if (event, context.atom_name) in self.crash_on:
            self.crash_on.discard((event, context.atom_name))
            raise Crash(f"crash in {event} of {context.atom_name}")

    def names(self, event: str) -> list[str]:
        return [name for kind, name, _ in self.entries if kind == event]

    def keys(self, event: str, name: str) -> list[str]:
        return [key for kind, atom, key in self.entries if kind == event and atom == name]


class Step(sf.Task):
    """Adds one to ``value`` (provided under the step's name); journals both ways."""

    def __init__(self, name: str, journal: Journal, *, fail: bool = False, **options: Any):
        super().__init__(name, provides=name, **options)
        self.journal = journal
        self.fail = fail

    def execute(self, value: int) -> int:
        self.journal.record("execute")
        if self.fail:
            raise RuntimeError(f"{self.name} failed")
        return value + 1

    def revert(self, value: int) -> None:
        self.journal.record("revert")


def chain(journal: Journal, names: list[str], *, fail: str = "", **options: Any) -> sf.Linear:
    """A chain of Steps, each feeding ``value`` to the next; ``fail`` names one that fails."""
    steps: list[sf.Task] = []
    previous = "start"
    for name in names:
        steps.append(Step(name, journal, fail=name == fail, rebind={"value": previous}, **options))
        previous = name
    return sf.Linear("chain", *steps)


class Double(sf.Task):
    def execute(self, n: int) -> int:
        return n * 2


def doubled(size: int) -> sf.Linear:
    """A factory for load_from_backend tests: ``size`` doubling tasks in a chain."""
    tasks = [Double(f"d{i}", provides=f"n{i + 1}", rebind={"n": f"n{i}"}) for i in range(size)]
    return sf.Linear("doubled", *tasks)


def not_a_flow() -> int:
    return 3

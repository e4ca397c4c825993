"""Small tasks the unit tests compose into flows."""

from __future__ import annotations

from typing import Any

import steadyflow as sf


class Journal:
    """Records ``(what, atom name)`` in order: executions and reverts."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def names(self, what: str) -> list[str]:
        return [name for kind, name in self.entries if kind == what]


class Step(sf.Task):
    """Records its execution and revert; fails when ``fail`` is set."""

    def __init__(
        self,
        name: str,
        journal: Journal,
        *,
        fail: BaseException | None = None,
        fail_revert: BaseException | None = None,
        **options: Any,
    ) -> None:
        super().__init__(name, **options)
        self.journal = journal
        self.fail = fail
        self.fail_revert = fail_revert

    def execute(self, **inputs: Any) -> Any:
        self.journal.entries.append(("execute", self.name))
        if self.fail is not None:
            raise self.fail
        return self.name if self.provides else None

    def revert(self, **inputs: Any) -> None:
        self.journal.entries.append(("revert", self.name))
        if self.fail_revert is not None:
            raise self.fail_revert


def give(name: str, value: Any, provides: str) -> sf.FunctionTask[..., Any]:
    """A task that provides ``value`` under ``provides``."""
    return sf.task(lambda: value, name=name, provides=provides)


def use(name: str, *symbols: str, provides: str | None = None) -> sf.FunctionTask[..., Any]:
    """A task that requires ``symbols`` and returns them as a dict."""

    def collect(**inputs: Any) -> dict[str, Any]:
        return inputs

    return sf.task(collect, name=name, requires=symbols, provides=provides)


def state_of(engine: sf.Engine) -> sf.EngineState:
    """The engine's state, read through a call so type checkers don't narrow it across runs."""
    return engine.state

"""TaskFlow's retry controllers (``taskflow.retry``) as steadyflow retry controllers.

User code sees TaskFlow's :class:`History` (iterating ``(value, failures)``
pairs, failures as TaskFlow's :class:`Failure`); the engine keeps its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import steadyflow as sf
from steadyflow.compat.taskflow import _internals, _naming
from steadyflow.compat.taskflow.types.failure import Failure

__all__ = [
    "EXECUTE_REVERT_HISTORY",
    "REVERT",
    "REVERT_ALL",
    "RETRY",
    "AlwaysRevert",
    "AlwaysRevertAll",
    "Decision",
    "ForEach",
    "History",
    "ParameterizedForEach",
    "Retry",
    "Times",
]

RETRY = "RETRY"
"""Revert the controller's flow and run it again."""
REVERT = "REVERT"
"""Revert the controller's flow and let the failure go to the enclosing one."""
REVERT_ALL = "REVERT_ALL"
"""Revert the whole run."""
EXECUTE_REVERT_HISTORY = "history"
"""The name a controller's ``execute``, ``revert`` and ``on_failure`` get the history under."""


class Decision:
    """The decisions :meth:`Retry.on_failure` returns, as attributes."""

    RETRY = RETRY
    REVERT = REVERT
    REVERT_ALL = REVERT_ALL


class History:
    """What a controller's flow did so far: one ``(value, {atom: Failure})`` per attempt."""

    def __init__(self, contents: Sequence[tuple[Any, Mapping[str, Any]]], failure: Any = None):
        self._contents = list(contents)
        self.failure = failure

    @classmethod
    def of(cls, history: sf.retry.History) -> History:
        """steadyflow's history, with TaskFlow's shapes."""
        return cls(
            [
                (attempt.value, {n: Failure.adopt(f) for n, f in attempt.failures.items()})
                for attempt in history
            ]
        )

    def __len__(self) -> int:
        return len(self._contents)

    def __iter__(self) -> Iterator[tuple[Any, Mapping[str, Any]]]:
        return iter(self._contents)

    def __getitem__(self, index: int) -> tuple[Any, Mapping[str, Any]]:
        return self._contents[index]

    def provided_iter(self) -> Iterator[tuple[int, Any]]:
        """``(index, value)`` of every attempt."""
        for index, (value, _) in enumerate(self._contents):
            yield index, value

    def outcomes_iter(self, index: int | None = None) -> Iterator[tuple[Any, Mapping[str, Any]]]:
        """Every ``(value, failures)``, or only the one at ``index``."""
        if index is None:
            yield from self._contents
        else:
            yield self._contents[index]

    def caused_by(self, exception_cls: type[BaseException]) -> bool:
        """Whether any failure so far is an ``exception_cls``."""
        return any(
            failure.check(exception_cls) is not None
            for _, failures in self._contents
            for failure in failures.values()
        )

    def __repr__(self) -> str:
        return f"History({self._contents!r})"


def _with_history(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` receiving TaskFlow's History instead of steadyflow's."""

    @functools.wraps(method)
    def adapted(*args: Any, history: sf.retry.History, **kwargs: Any) -> Any:
        return method(*args, history=History.of(history), **kwargs)

    return adapted


class Retry(sf.Retry):
    """A TaskFlow retry controller: subclass it and define ``on_failure``.

    ``execute(history, ...)`` runs before every attempt of the controller's
    flow (its result is provided under ``provides``); ``on_failure(history,
    ...)`` returns :data:`RETRY`, :data:`REVERT` or :data:`REVERT_ALL`.
    """

    default_provides: ClassVar[Any] = None
    version: Any = (1, 0)  # TaskFlow declares it on the class; an instance may override it

    def __init__(
        self,
        name: str | None = None,
        provides: Any = None,
        requires: Any = None,
        auto_extract: bool = True,
        rebind: Any = None,
    ) -> None:
        if type(self).on_failure is Retry.on_failure:
            raise TypeError(
                f"Can't instantiate abstract class {type(self).__name__} with abstract method "
                f"on_failure"
            )
        self.execute = _with_history(self.execute)  # type: ignore[method-assign]
        self.on_failure = _with_history(self.on_failure)  # type: ignore[method-assign]
        self.revert = _with_history(self.revert)  # type: ignore[method-assign]
        super().__init__(
            name if name is not None else _naming.default_name(type(self)),
            requires=_naming.requires_for(requires),
            rebind=_naming.rebind_for(rebind),
            version=_naming.version_text(self.version),
        )
        if provides is None:
            provides = self.default_provides
        self.provides_spec = _internals.provides_spec(provides, self.name)

    def execute(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        """Before every attempt; the result is provided to the flow's atoms."""
        return None

    def revert(self, history: Any, *args: Any, **kwargs: Any) -> None:
        """When the run is reverted past this controller."""
        return None

    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        """Decide about the failures of the latest attempt."""
        raise NotImplementedError  # pragma: no cover - __init__ refuses subclasses without it

    def __str__(self) -> str:
        return f'"{self.name}=={_naming.version_text(self.version)}"'


class _GivingUp(Retry):
    """A controller that gives up with REVERT, or REVERT_ALL when ``revert_all``."""

    def __init__(self, *args: Any, revert_all: bool = False, **kwargs: Any) -> None:
        self._give_up = REVERT_ALL if revert_all else REVERT
        super().__init__(*args, **kwargs)

    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        return self._give_up


class AlwaysRevert(Retry):
    """Gives up at once: reverts its flow and passes the failure outward."""

    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        return REVERT


class AlwaysRevertAll(Retry):
    """Gives up at once and reverts the whole run."""

    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        return REVERT_ALL


class Times(_GivingUp):
    """Runs its flow up to ``attempts`` times; provides the attempt number (from 1)."""

    def __init__(
        self,
        attempts: int = 1,
        name: str | None = None,
        provides: Any = None,
        requires: Any = None,
        auto_extract: bool = True,
        rebind: Any = None,
        revert_all: bool = False,
    ) -> None:
        self._attempts = attempts
        super().__init__(name, provides, requires, auto_extract, rebind, revert_all=revert_all)

    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        if len(history) < self._attempts:
            return RETRY
        return self._give_up

    def execute(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        return len(history) + 1


class _ForEachBase(_GivingUp):
    def _next_value(self, values: Sequence[Any], history: History) -> Any:
        tried = [value for value, _ in history]
        for value in values:
            if value not in tried:
                return value
        raise sf.errors.ExecutionError(f"{self.name}: no values left to try")

    def _decide(self, values: Sequence[Any], history: History) -> Any:
        tried = [value for value, _ in history]
        if any(value not in tried for value in values):
            return RETRY
        return self._give_up


class ForEach(_ForEachBase):
    """Runs its flow once per value of ``values`` until it succeeds; provides the value."""

    def __init__(
        self,
        values: Sequence[Any],
        name: str | None = None,
        provides: Any = None,
        requires: Any = None,
        auto_extract: bool = True,
        rebind: Any = None,
        revert_all: bool = False,
    ) -> None:
        self._values = list(values)
        super().__init__(name, provides, requires, auto_extract, rebind, revert_all=revert_all)

    def on_failure(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        return self._decide(self._values, history)

    def execute(self, history: Any, *args: Any, **kwargs: Any) -> Any:
        return self._next_value(self._values, history)


class ParameterizedForEach(_ForEachBase):
    """Like :class:`ForEach`, with the values given as the ``values`` input."""

    def on_failure(self, values: Sequence[Any], history: Any) -> Any:  # type: ignore[override]
        return self._decide(values, history)

    def execute(self, values: Sequence[Any], history: Any) -> Any:  # type: ignore[override]
        return self._next_value(values, history)

"""Retry controllers: what a flow does when something inside it fails.

A controller is attached to a flow with ``retry=``. It runs before the flow's
contents (its ``execute`` result is provided to them, so it can hand each
attempt a different value), and when an atom inside fails, its
``on_failure(history)`` decides:

- :data:`RETRY`: revert the flow's contents, wait the backoff delay, run them again;
- :data:`REVERT`: give up here; the failure goes to the next controller outward
  (and, with none left, the whole run is reverted);
- :data:`REVERT_ALL`: revert the whole run now, whatever outer controllers would say.

The backoff waits never block other branches: the engine schedules the new
attempt for later and keeps running whatever else it can.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from steadyflow.atom import Atom, Provides, Rebind
from steadyflow.errors import InvalidAtomError
from steadyflow.failure import Failure

if TYPE_CHECKING:
    import random

__all__ = [
    "REVERT",
    "REVERT_ALL",
    "RETRY",
    "AlwaysRevert",
    "AlwaysRevertAll",
    "Attempt",
    "Decision",
    "ForEach",
    "History",
    "ParameterizedForEach",
    "Retry",
    "Times",
]


class Decision(StrEnum):
    """What a controller wants done about a failure in its flow."""

    RETRY = "RETRY"
    REVERT = "REVERT"
    REVERT_ALL = "REVERT_ALL"


RETRY = Decision.RETRY
REVERT = Decision.REVERT
REVERT_ALL = Decision.REVERT_ALL


class Attempt:
    """One run of a controller's flow: the value it was given and what failed.

    ``failures`` maps atom names to their failures during this attempt.
    """

    __slots__ = ("failures", "value")

    def __init__(self, value: Any, failures: Mapping[str, Failure] | None = None) -> None:
        self.value = value
        self.failures: Mapping[str, Failure] = {} if failures is None else failures

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attempt):
            return NotImplemented
        return self.value == other.value and dict(self.failures) == dict(other.failures)

    __hash__ = None  # type: ignore[assignment]  # mutable failures: not hashable

    def __repr__(self) -> str:
        return f"Attempt(value={self.value!r}, failures={dict(self.failures)!r})"


class History(Sequence[Attempt]):
    """Every attempt of one controller's flow, oldest first.

    ``len(history)`` is the number of attempts so far (the current one
    included, while ``on_failure`` is deciding about it).
    """

    __slots__ = ("_attempts",)

    def __init__(self, attempts: Iterable[Attempt] = ()) -> None:
        self._attempts = list(attempts)

    def __len__(self) -> int:
        return len(self._attempts)

    def __getitem__(self, index: int) -> Attempt:  # type: ignore[override]
        return self._attempts[index]

    def __iter__(self) -> Iterator[Attempt]:
        return iter(self._attempts)

    def values(self) -> list[Any]:
        """The value each attempt was given, oldest first."""
        return [attempt.value for attempt in self._attempts]

    def failures(self) -> Mapping[str, Failure]:
        """Atom name -> failure, for the latest attempt."""
        return self._attempts[-1].failures if self._attempts else {}

    def all_failures(self) -> list[Failure]:
        """Every failure of every attempt, oldest first."""
        return [f for attempt in self._attempts for f in attempt.failures.values()]

    def __repr__(self) -> str:
        return f"History({self._attempts!r})"


class Retry(Atom):
    """Base of every retry controller; subclass it and define :meth:`on_failure`.

    Args:
        name: unique within the flow; defaults to the class's qualified name.
        provides: name(s) the value of :meth:`execute` is provided under, to
            the atoms of the controller's flow.
        requires: extra input names for an ``execute`` taking ``**kwargs``.
        rebind: new symbol names for ``execute``'s parameters.
        inject: values pinned for this controller.
        delay: seconds to wait before the second attempt.
        backoff: multiplier applied to the delay for each further attempt.
        max_delay: upper bound of any delay.
        jitter: fraction (0 to 1) of random spread applied to each delay, so
            that many flows failing together do not retry in lockstep.
        on: retry only failures matching one of these exception types; any
            other failure makes the controller give up at once.
        version: recorded with the controller's state.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        provides: Provides = None,
        requires: Iterable[str] | None = None,
        rebind: Rebind = None,
        inject: Mapping[str, Any] | None = None,
        delay: float = 0.0,
        backoff: float = 1.0,
        max_delay: float | None = None,
        jitter: float = 0.0,
        on: Iterable[type[BaseException]] | None = None,
        version: str = "1.0",
    ) -> None:
        if type(self).on_failure is Retry.on_failure:
            raise InvalidAtomError(f"{type(self).__name__} must define on_failure()")
        self.named = name is not None
        """False when the name is a default; a flow then renames it ``<flow>.retry``."""
        self._bind(
            self.execute,
            name=name if name is not None else f"{type(self).__module__}.{type(self).__qualname__}",
            provides=provides,
            requires=requires,
            rebind=rebind,
            inject=inject,
            version=version,
            skip=("history",),
        )
        if delay < 0 or backoff < 1 or not 0 <= jitter <= 1:
            raise InvalidAtomError(
                f"{self.name}: need delay >= 0, backoff >= 1 and 0 <= jitter <= 1 "
                f"(got delay={delay}, backoff={backoff}, jitter={jitter})"
            )
        if max_delay is not None and max_delay < 0:
            raise InvalidAtomError(f"{self.name}: max_delay must be >= 0")
        self.delay = float(delay)
        self.backoff = float(backoff)
        self.max_delay = max_delay
        self.jitter = float(jitter)
        self.retry_on: tuple[type[BaseException], ...] = tuple(on or ())

    def execute(self, history: History, **kwargs: Any) -> Any:
        """Run before every attempt; the result is provided to the flow's atoms."""
        return None

    def on_failure(self, history: History, **kwargs: Any) -> Decision:
        """Decide what to do about the failures of the latest attempt."""
        raise NotImplementedError  # pragma: no cover - __init__ refuses controllers without it

    def revert(self, history: History, **kwargs: Any) -> None:
        """Undo :meth:`execute`; called when the run is reverted past this controller."""
        return None

    # -- helpers for subclasses and the engine ------------------------------------

    def retryable(self, history: History) -> bool:
        """Whether every failure of the latest attempt matches ``on`` (if given)."""
        if not self.retry_on:
            return True
        return all(f.check(*self.retry_on) for f in history.failures().values())

    def delay_for(self, failed_attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before the next attempt, after ``failed_attempts`` failures."""
        if self.delay <= 0 or failed_attempts <= 0:
            return 0.0
        seconds = self.delay * self.backoff ** (failed_attempts - 1)
        if self.jitter:
            if rng is None:
                import random

                rng = random.Random()
            spread = rng.uniform(-self.jitter, self.jitter)
            seconds *= 1.0 + spread
        if self.max_delay is not None:
            seconds = min(seconds, self.max_delay)
        return max(0.0, seconds)


class Times(Retry):
    """Run the flow up to ``attempts`` times in all, then give up.

    Args:
        attempts: total number of attempts (1 means no retry).
        revert_all: on giving up, revert the whole run rather than asking
            the next controller outward.
        **options: as for :class:`Retry` (``delay``, ``backoff``, ``on``, ...).
    """

    def __init__(
        self,
        attempts: int = 1,
        name: str | None = None,
        *,
        revert_all: bool = False,
        **options: Any,
    ) -> None:
        if not isinstance(attempts, int) or attempts < 1:
            raise InvalidAtomError(f"Times needs attempts >= 1, not {attempts!r}")
        self.attempts = attempts
        self.revert_all = revert_all
        super().__init__(name, **options)

    def on_failure(self, history: History, **kwargs: Any) -> Decision:
        if len(history) < self.attempts and self.retryable(history):
            return RETRY
        return REVERT_ALL if self.revert_all else REVERT


class _ValuesRetry(Retry):
    """Shared logic of the for-each controllers: one attempt per value."""

    revert_all: bool = False

    def _next_value(self, values: Sequence[Any], history: History) -> Any:
        if not values:
            raise ValueError(f"{self.name}: no values to try")
        if len(history) >= len(values):
            raise ValueError(f"{self.name}: all {len(values)} values were tried")
        return values[len(history)]

    def _decide(self, values: Sequence[Any], history: History) -> Decision:
        if len(history) < len(values) and self.retryable(history):
            return RETRY
        return REVERT_ALL if self.revert_all else REVERT


class ForEach(_ValuesRetry):
    """Run the flow once per value until one attempt succeeds.

    Each attempt's value is provided to the flow under ``provides``.
    """

    def __init__(
        self,
        values: Iterable[Any],
        name: str | None = None,
        *,
        revert_all: bool = False,
        **options: Any,
    ) -> None:
        self.values = list(values)
        if not self.values:
            raise InvalidAtomError("ForEach needs at least one value")
        self.revert_all = revert_all
        super().__init__(name, **options)

    def execute(self, history: History, **kwargs: Any) -> Any:
        return self._next_value(self.values, history)

    def on_failure(self, history: History, **kwargs: Any) -> Decision:
        return self._decide(self.values, history)


class ParameterizedForEach(_ValuesRetry):
    """Like :class:`ForEach`, but the values come from the input ``values``.

    Use ``rebind=["my_list"]`` (or ``{"values": "my_list"}``) to read them
    from another name.
    """

    def __init__(self, name: str | None = None, *, revert_all: bool = False, **options: Any):
        self.revert_all = revert_all
        super().__init__(name, **options)

    def execute(self, values: Sequence[Any], history: History) -> Any:  # type: ignore[override]
        return self._next_value(values, history)

    def on_failure(self, values: Sequence[Any], history: History) -> Decision:  # type: ignore[override]
        return self._decide(values, history)


class AlwaysRevert(Retry):
    """Never retry: give the failure to the next controller outward."""

    def on_failure(self, history: History, **kwargs: Any) -> Decision:
        return REVERT


class AlwaysRevertAll(Retry):
    """Never retry: revert the whole run."""

    def on_failure(self, history: History, **kwargs: Any) -> Decision:
        return REVERT_ALL

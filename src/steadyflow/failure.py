"""A captured exception that survives serialization.

A :class:`Failure` is how a task's error travels: into revert handlers, into
storage, across a process boundary to resume later. Once serialized, the
exception object itself is gone (its type may not even be importable where
it is read back), so a Failure keeps the fully qualified names of the
exception's type *and its bases*: ``check(OSError)`` still matches a
``FileNotFoundError`` that was read back from a database.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, NoReturn

from steadyflow.errors import CorruptRecordError, RemoteFailureError

__all__ = ["Failure"]

_FORMAT_VERSION = 1


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _type_names(cls: type[BaseException]) -> tuple[str, ...]:
    return tuple(_qualified_name(base) for base in cls.__mro__ if issubclass(base, BaseException))


class Failure:
    """An exception captured with its type names, message, traceback and cause.

    Args:
        exception: the live exception, when there is one.
        exc_type_names: qualified names of the type and its exception bases.
        message: ``str(exception)``.
        traceback_str: the formatted traceback.
        cause: the Failure of ``__cause__`` (or ``__context__``), if any.
    """

    __slots__ = ("_exception", "cause", "exc_type_names", "message", "traceback_str")

    def __init__(
        self,
        *,
        exception: BaseException | None,
        exc_type_names: tuple[str, ...],
        message: str,
        traceback_str: str,
        cause: Failure | None = None,
    ) -> None:
        if not exc_type_names:
            raise ValueError("a Failure needs at least one exception type name")
        self._exception = exception
        self.exc_type_names = exc_type_names
        self.message = message
        self.traceback_str = traceback_str
        self.cause = cause

    @classmethod
    def from_exception(cls, exc: BaseException | None = None) -> Failure:
        """Capture ``exc``, or the exception being handled right now.

        Raises:
            ValueError: no exception was given and none is being handled.
        """
        if exc is None:
            exc = sys.exc_info()[1]
            if exc is None:
                raise ValueError("Failure.from_exception() outside an except block needs exc")
        return cls._capture(exc, seen=set())

    @classmethod
    def _capture(cls, exc: BaseException, seen: set[int]) -> Failure:
        seen.add(id(exc))
        origin = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        cause = None
        if origin is not None and id(origin) not in seen:
            cause = cls._capture(origin, seen)
        return cls(
            exception=exc,
            exc_type_names=_type_names(type(exc)),
            message=str(exc),
            traceback_str=_format_traceback(exc),
            cause=cause,
        )

    # -- reading --------------------------------------------------------------

    @property
    def exception(self) -> BaseException | None:
        """The live exception, or None for a failure read back from storage."""
        return self._exception

    @property
    def exc_type_name(self) -> str:
        """The qualified name of the exception's own type."""
        return self.exc_type_names[0]

    def check(self, *types: type[BaseException] | str) -> type[BaseException] | str | None:
        """Return the first of ``types`` this failure is an instance of, else None.

        Types may be classes or qualified names (``"builtins.OSError"``); names
        are matched against the stored type names, so a failure read back from
        storage still matches its base classes.
        """
        for wanted in types:
            name = wanted if isinstance(wanted, str) else _qualified_name(wanted)
            if name in self.exc_type_names:
                return wanted
        return None

    def reraise(self) -> NoReturn:
        """Raise the original exception (traceback kept), or a RemoteFailureError.

        Raises:
            BaseException: the captured exception itself, when it is live.
            RemoteFailureError: the failure was read back and has no live exception.
        """
        if self._exception is not None:
            raise self._exception.with_traceback(self._exception.__traceback__)
        raise RemoteFailureError(self)

    def to_exception(self) -> BaseException:
        """The live exception, or a :class:`RemoteFailureError` standing for it."""
        return self._exception if self._exception is not None else RemoteFailureError(self)

    # -- serialization --------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reads it back."""
        return {
            "version": _FORMAT_VERSION,
            "exc_type_names": list(self.exc_type_names),
            "message": self.message,
            "traceback": self.traceback_str,
            "cause": None if self.cause is None else self.cause.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Failure:
        """Rebuild a failure written by :meth:`to_dict`.

        Raises:
            CorruptRecordError: ``data`` is not a failure record this code reads.
        """
        try:
            version = data["version"]
            names = tuple(str(name) for name in data["exc_type_names"])
            message = str(data["message"])
            traceback_str = str(data["traceback"])
            raw_cause = data.get("cause")
        except (KeyError, TypeError) as exc:
            raise CorruptRecordError(f"not a failure record: {data!r:.200}") from exc
        if version != _FORMAT_VERSION:
            raise CorruptRecordError(f"unknown failure record version {version!r}")
        if not names:
            raise CorruptRecordError("failure record names no exception type")
        cause = None if raw_cause is None else cls.from_dict(raw_cause)
        return cls(
            exception=None,
            exc_type_names=names,
            message=message,
            traceback_str=traceback_str,
            cause=cause,
        )

    # -- comparison and display -------------------------------------------------

    def matches(self, other: Failure) -> bool:
        """Whether ``other`` records the same error (live or read back)."""
        return (
            self.exc_type_names == other.exc_type_names
            and self.message == other.message
            and self.traceback_str == other.traceback_str
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Failure):
            return NotImplemented
        return self.matches(other) and self.cause == other.cause

    def __hash__(self) -> int:
        return hash((self.exc_type_names, self.message))

    def __repr__(self) -> str:
        return f"Failure({self.exc_type_name}: {self.message!r})"

    def __str__(self) -> str:
        return f"{self.exc_type_name.rpartition('.')[2]}: {self.message}"


def _format_traceback(exc: BaseException) -> str:
    import traceback  # here, not at import: only failures pay for it

    return "".join(traceback.format_exception(exc, chain=False))

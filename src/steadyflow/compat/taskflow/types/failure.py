"""TaskFlow's ``Failure`` (``taskflow.types.failure``) over :class:`steadyflow.Failure`."""

from __future__ import annotations

import builtins
import sys
from collections.abc import Mapping
from typing import Any

import steadyflow as sf

__all__ = ["Failure"]

_TYPE_NAMES_KEY = "exc_type_names"


class Failure(sf.Failure):
    """A captured exception; ``Failure()`` inside ``except`` captures the current one.

    It is a :class:`steadyflow.Failure`, so it stores and compares like one; it
    adds TaskFlow's names (``exception_str``, ``exc_info``) and checks short
    names (``check("ValueError")``) as TaskFlow does.
    """

    __slots__ = ()
    __module__ = "taskflow.types.failure"

    def __init__(self, exc_info: Any = None, **kwargs: Any) -> None:
        if kwargs:
            super().__init__(**kwargs)
            return
        exc = exc_info[1] if exc_info else sys.exc_info()[1]
        if exc is None:
            raise ValueError("Failure() outside an except block needs exc_info")
        captured = sf.Failure.from_exception(exc)
        super().__init__(**_fields(captured))

    @classmethod
    def adopt(cls, failure: sf.Failure) -> Failure:
        """The same failure as this class (what user code receives from the engine)."""
        if isinstance(failure, cls):
            return failure
        return cls(**_fields(failure))

    @classmethod
    def from_exception(cls, exc: BaseException | None = None) -> Failure:
        """Capture ``exc`` (or the exception being handled)."""
        return cls.adopt(sf.Failure.from_exception(exc))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Failure:
        """Read back what :meth:`to_dict` wrote; the live exception is gone."""
        if "message" in data:
            return cls.adopt(sf.Failure.from_dict(data))
        names = tuple(data[_TYPE_NAMES_KEY])
        return cls(
            exception=None,
            exc_type_names=tuple(_qualify(name) for name in names),
            message=data.get("exception_str", ""),
            traceback_str=data.get("traceback_str") or "",
        )

    def to_dict(self, include_args: bool = True) -> dict[str, Any]:
        """The fields TaskFlow stores for a failure."""
        exception = self.exception
        return {
            "causes": [],
            "exc_args": tuple(exception.args) if include_args and exception is not None else (),
            _TYPE_NAMES_KEY: [_short(name) for name in self.exc_type_names],
            "exception_str": self.message,
            "traceback_str": self.traceback_str,
            "version": 1,
        }

    @property
    def exception_str(self) -> str:
        """``str()`` of the exception."""
        return self.message

    @property
    def exc_info(self) -> tuple[Any, Any, Any] | None:
        """``(type, value, traceback)`` of the live exception, or None."""
        exception = self.exception
        if exception is None:
            return None
        return (type(exception), exception, exception.__traceback__)

    def check(self, *types: type[BaseException] | str) -> type[BaseException] | str | None:
        """The first of ``types`` the exception is an instance of (names may be short)."""
        qualified = tuple(_qualify(t) if isinstance(t, str) else t for t in types)
        for wanted, asked in zip(qualified, types, strict=True):
            if super().check(wanted) is not None:
                return asked
        return None

    def __str__(self) -> str:
        return f"Failure: {_short(self.exc_type_names[0])}: {self.message}"

    def __repr__(self) -> str:
        return object.__repr__(self)


def _fields(failure: sf.Failure) -> dict[str, Any]:
    return {
        "exception": failure.exception,
        "exc_type_names": failure.exc_type_names,
        "message": failure.message,
        "traceback_str": failure.traceback_str,
        "cause": failure.cause,
    }


def _short(name: str) -> str:
    return name.removeprefix("builtins.")


def _qualify(name: str) -> str:
    return f"builtins.{name}" if "." not in name and hasattr(builtins, name) else name

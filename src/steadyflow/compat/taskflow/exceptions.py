"""TaskFlow's exception classes (``taskflow.exceptions``), as programs catch them.

The layer raises these where TaskFlow would: :class:`MissingDependencies` for
an input nobody provides, :class:`DependencyFailure` for a cycle,
:class:`WrappedFailure` when several tasks failed at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from steadyflow.compat.taskflow.types.failure import Failure

__all__ = [
    "AmbiguousDependency",
    "CompilationFailure",
    "ConnectionFailure",
    "DependencyFailure",
    "DisallowedAccess",
    "Duplicate",
    "ExecutionFailure",
    "InvalidFormat",
    "MissingDependencies",
    "NotFound",
    "NotImplementedError",
    "RequestTimeout",
    "StorageFailure",
    "TaskFlowException",
    "WrappedFailure",
]


class TaskFlowException(Exception):
    """Raised as the base of every TaskFlow error; carries an optional cause."""

    def __init__(self, message: str = "", cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class StorageFailure(TaskFlowException):
    """Raised when storage or a persistence backend fails."""


class ConnectionFailure(TaskFlowException):
    """Raised when a backend cannot be reached."""


class ExecutionFailure(TaskFlowException):
    """Raised when running something failed."""


class RequestTimeout(ExecutionFailure):
    """Raised when a request took too long."""


class CompilationFailure(TaskFlowException):
    """Raised when a flow cannot be compiled."""


class DependencyFailure(TaskFlowException):
    """Raised when a flow's dependencies are wrong (a cycle, for instance)."""


class AmbiguousDependency(DependencyFailure):
    """Raised when an input has several providers and none is nearest."""


class MissingDependencies(DependencyFailure):
    """Raised when an input has no provider and no stored value."""


class Duplicate(TaskFlowException):
    """Raised when something that must be unique is not."""


class NotFound(TaskFlowException):
    """Raised when something looked up does not exist."""


class InvalidFormat(TaskFlowException):
    """Raised when data read back has the wrong shape."""


class DisallowedAccess(TaskFlowException):
    """Raised when an operation is not allowed in the current state."""


_BuiltinNotImplementedError = NotImplementedError


class NotImplementedError(_BuiltinNotImplementedError):  # noqa: A001 - TaskFlow's name, for catchers
    """Raised when a TaskFlow feature the layer does not cover is used."""


class WrappedFailure(Exception):
    """Raised when several atoms failed at once; iterate it for their Failures."""

    def __init__(self, causes: Sequence[Failure]) -> None:
        super().__init__(causes)
        self._causes = list(causes)

    def __iter__(self) -> Iterator[Failure]:
        return iter(self._causes)

    def __len__(self) -> int:
        return len(self._causes)

    def check(self, *exc_classes: Any) -> Any:
        """The first of ``exc_classes`` matching any cause, else None."""
        for cause in self._causes:
            found = cause.check(*exc_classes)
            if found is not None:
                return found
        return None

    def __str__(self) -> str:
        return f"WrappedFailure: {[str(cause) for cause in self._causes]}"

"""Every error steadyflow raises on purpose.

The hierarchy::

    SteadyflowError
    ├── FlowError                      (declaring or compiling a flow)
    │   ├── InvalidAtomError           (also TypeError)
    │   ├── DuplicateNameError
    │   ├── CycleError
    │   └── DependencyError
    │       ├── MissingRequirementError
    │       └── AmbiguousProviderError
    ├── ExecutionError                 (running a flow)
    │   ├── InvalidResultError
    │   ├── InvalidInputError          (also TypeError)
    │   ├── ResultSerializationError
    │   ├── TaskTimeoutError           (also TimeoutError)
    │   ├── RunTimeoutError            (also TimeoutError)
    │   ├── RevertFailedError
    │   ├── FlowRevokedError
    │   ├── FailureGroup               (also ExceptionGroup)
    │   ├── RemoteFailureError
    │   ├── EngineStateError
    │   └── IllegalTransitionError
    ├── PersistenceError
    │   ├── InvalidURLError            (also ValueError)
    │   ├── MissingDriverError         (also ImportError)
    │   ├── NotFoundError              (also LookupError)
    │   ├── ConflictError
    │   │   ├── FlowLockedError
    │   │   └── LeaseLostError
    │   ├── CorruptRecordError
    │   ├── SchemaVersionError
    │   └── IncompatibleFlowError
    ├── BackendUnavailableError        (also ConnectionError)
    └── WorkerError                    (remote workers)
        ├── MessageError               (also ValueError)
        └── UnknownTaskError           (also LookupError)

Every class is documented with when it is raised; all are new in 0.1.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from steadyflow.failure import Failure

__all__ = [
    "AmbiguousProviderError",
    "BackendUnavailableError",
    "ConflictError",
    "CorruptRecordError",
    "CycleError",
    "DependencyError",
    "DuplicateNameError",
    "EngineStateError",
    "ExecutionError",
    "FailureGroup",
    "FlowError",
    "FlowLockedError",
    "FlowRevokedError",
    "IllegalTransitionError",
    "IncompatibleFlowError",
    "LeaseLostError",
    "InvalidAtomError",
    "InvalidInputError",
    "InvalidResultError",
    "InvalidURLError",
    "MissingDriverError",
    "MissingRequirementError",
    "NotFoundError",
    "PersistenceError",
    "RemoteFailureError",
    "ResultSerializationError",
    "RevertFailedError",
    "RunTimeoutError",
    "SchemaVersionError",
    "SteadyflowError",
    "TaskTimeoutError",
    "UnknownTaskError",
    "MessageError",
    "WorkerError",
]


class SteadyflowError(Exception):
    """Root of every error steadyflow raises on purpose.

    .. versionadded:: 0.1.0
    """


# -- declaring and compiling -------------------------------------------------


class FlowError(SteadyflowError):
    """Raised when a flow is declared or compiled wrongly; nothing has run.

    .. versionadded:: 0.1.0
    """


class InvalidAtomError(FlowError, TypeError):
    """Raised when something that is not an atom instance is added to a flow.

    The commonest case is a task class passed where an instance belongs.

    .. versionadded:: 0.1.0
    """


class DuplicateNameError(FlowError):
    """Raised when two atoms (or flows) in one flow tree share a name.

    .. versionadded:: 0.1.0
    """


class CycleError(FlowError):
    """Raised when the edges of a graph flow form a cycle; the message names it.

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str, cycle: Sequence[str]) -> None:
        super().__init__(message)
        self.cycle: tuple[str, ...] = tuple(cycle)


class DependencyError(FlowError):
    """Raised when the data dependencies of a flow cannot be satisfied.

    .. versionadded:: 0.1.0
    """


class MissingRequirementError(DependencyError):
    """Raised when an atom requires a name nobody provides and ``store`` lacks.

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str, atom: str, missing: Sequence[str]) -> None:
        super().__init__(message)
        self.atom = atom
        self.missing: tuple[str, ...] = tuple(missing)


class AmbiguousProviderError(DependencyError):
    """Raised when a consumer cannot tell which of several providers to use.

    .. versionadded:: 0.1.0
    """


# -- running -----------------------------------------------------------------


class ExecutionError(SteadyflowError):
    """Raised when running a flow goes wrong in a way that is not a task's own error.

    .. versionadded:: 0.1.0
    """


class InvalidInputError(ExecutionError, TypeError):
    """Raised when an input an atom receives at run time cannot be used.

    The case it exists for: the list a :class:`~steadyflow.Map` maps over is a
    string, bytes or not iterable at all (a string would otherwise be mapped
    character by character). The message names the atom; the atom counts as
    failed, and the normal revert follows.

    .. versionadded:: 0.1.0
    """


class InvalidResultError(ExecutionError):
    """Raised when a task's result does not fit what it declared it provides.

    A tuple ``provides`` with a result of another length or that is no
    sequence, or a dict ``provides`` whose result lacks a key. (A task
    without ``provides`` may return anything: the result is kept, only not
    published.) The task counts as failed, and the normal revert follows.

    .. versionadded:: 0.1.0
    """


class ResultSerializationError(ExecutionError):
    """Raised when a task's result cannot be serialized for persistence.

    The task counts as failed before its success is announced.

    .. versionadded:: 0.1.0
    """


class TaskTimeoutError(ExecutionError, TimeoutError):
    """Raised (as the task's failure) when a task outlives its ``timeout``.

    .. versionadded:: 0.1.0
    """


class RunTimeoutError(ExecutionError, TimeoutError):
    """Raised when a whole run outlives ``engine.run(timeout=...)``.

    .. versionadded:: 0.1.0
    """


class RevertFailedError(ExecutionError):
    """Raised when reverting after a failure itself failed.

    Attributes:
        failures: the failures that started the revert.
        revert_failures: atom name -> the failure its ``revert`` raised.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        message: str,
        failures: Sequence[Failure],
        revert_failures: dict[str, Failure],
    ) -> None:
        super().__init__(message)
        self.failures: tuple[Failure, ...] = tuple(failures)
        self.revert_failures = dict(revert_failures)


class FlowRevokedError(ExecutionError):
    """Raised by a run that ended REVERTED because someone revoked it.

    A revoke is not a failure: no retry controller was asked, and everything
    the flow had completed was undone. ``engine.revoke(..., raise_error=False)``
    makes the run return normally instead.

    Attributes:
        reason: why the flow was revoked (None when nobody said).
        requested_by: who asked (a name, or the host and process by default).
        failures: failures that happened while the revoke was under way (an
            atom that failed just before the revoke was seen, say).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        requested_by: str | None = None,
        failures: Sequence[Failure] = (),
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.requested_by = requested_by
        self.failures: tuple[Failure, ...] = tuple(failures)


class FailureGroup(ExecutionError, ExceptionGroup[Exception]):
    """Raised when several atoms failed at once; holds each original exception.

    .. versionadded:: 0.1.0
    """

    def __new__(cls, message: str, exceptions: Sequence[Exception]) -> FailureGroup:
        return super().__new__(cls, message, exceptions)

    def __init__(self, message: str, exceptions: Sequence[Exception]) -> None:
        super().__init__(message, exceptions)

    def derive(self, excs: Sequence[Exception]) -> FailureGroup:  # type: ignore[override]
        return FailureGroup(self.message, excs)


class RemoteFailureError(ExecutionError):
    """Raised when re-raising a failure whose exception object is not available.

    That happens for failures loaded from storage or received from a worker:
    the exception's type may not even be importable here. The original type
    names, message and traceback are kept on :attr:`failure`.

    .. versionadded:: 0.1.0
    """

    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.exc_type_name}: {failure.message}")
        self.failure = failure


class EngineStateError(ExecutionError):
    """Raised when an engine is asked for something its state does not allow.

    .. versionadded:: 0.1.0
    """


class IllegalTransitionError(ExecutionError):
    """Raised when a state would move along an edge its transition table lacks.

    This always signals a bug in steadyflow, never a user mistake.

    .. versionadded:: 0.1.0
    """


# -- persistence ---------------------------------------------------------------


class PersistenceError(SteadyflowError):
    """Raised when saving or loading flow state fails.

    .. versionadded:: 0.1.0
    """


class InvalidURLError(PersistenceError, ValueError):
    """Raised when a backend or board URL does not parse or names an unknown scheme.

    .. versionadded:: 0.1.0
    """


class MissingDriverError(PersistenceError, ImportError):
    """Raised when a backend's driver is not installed; the message names the extra.

    .. versionadded:: 0.1.0
    """


class NotFoundError(PersistenceError, LookupError):
    """Raised when a logbook, flow detail or atom detail does not exist.

    .. versionadded:: 0.1.0
    """


class ConflictError(PersistenceError):
    """Raised when a save loses an optimistic version check to another writer.

    .. versionadded:: 0.1.0
    """


class FlowLockedError(ConflictError):
    """Raised when a second runner tries to take a flow whose lease someone else holds.

    Every backend raises exactly this type for "another runner holds this
    flow", whatever the race that led there.

    Attributes:
        flow_id: the flow detail the lease is for (None when unknown).
        holder: the owner id of the lease's current holder (None when unknown).
        expires_at: when the holder's lease runs out unless renewed, in seconds
            since the epoch on the store's clock (None when unknown).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        message: str,
        *,
        flow_id: str | None = None,
        holder: str | None = None,
        expires_at: float | None = None,
    ) -> None:
        super().__init__(message)
        self.flow_id = flow_id
        self.holder = holder
        self.expires_at = expires_at


class LeaseLostError(ConflictError):
    """Raised when a runner's lease on a flow ended while it was running the flow.

    Either the store refused a write made under a stale epoch (someone else
    took the flow over), or the lease could not be renewed before it
    expired. The runner that gets it has stopped: it starts no more atoms
    and records nothing more; whoever holds the lease now owns the flow.

    Attributes:
        flow_id: the flow detail the lease was for.
        epoch: the epoch the runner held (None when unknown).

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str, *, flow_id: str | None = None, epoch: int | None = None):
        super().__init__(message)
        self.flow_id = flow_id
        self.epoch = epoch


class CorruptRecordError(PersistenceError):
    """Raised when a stored record cannot be decoded; the message names it.

    .. versionadded:: 0.1.0
    """


class SchemaVersionError(PersistenceError):
    """Raised when a store's schema is newer than this code; it is never downgraded.

    .. versionadded:: 0.1.0
    """


class IncompatibleFlowError(PersistenceError):
    """Raised when resuming a flow whose atoms changed version since it was saved.

    .. versionadded:: 0.1.0
    """


class BackendUnavailableError(SteadyflowError, ConnectionError):
    """Raised when a backend's server cannot be reached in bounded time.

    The message names the address, with credentials masked.

    .. versionadded:: 0.1.0
    """


class WorkerError(SteadyflowError):
    """Raised when remote workers cannot run a task (the ``workers`` engine, ``steadyflow worker``).

    .. versionadded:: 0.1.0
    """


class MessageError(WorkerError, ValueError):
    """Raised when a worker message is malformed, oversized, of an unknown version, or
    cannot be encoded (a value that is not JSON).

    .. versionadded:: 0.1.0
    """


class UnknownTaskError(WorkerError, LookupError):
    """Raised (on the worker, sent back as the task's failure) when a request names a task
    the worker was not given: workers run only their allowlist.

    .. versionadded:: 0.1.0
    """

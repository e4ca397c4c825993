"""The typed keyword options of :func:`steadyflow.load`, :func:`steadyflow.run` and friends.

:func:`steadyflow.revoke` takes :class:`RunOptions` too (for the revert it
may run itself), and reports a :data:`RevokeOutcome`.

They are :class:`~typing.TypedDict` s so that ``sf.load(flow, max_worker=3)``
or ``engine="threads"`` is a type checker's error in the editor, not only a
``TypeError`` at run time; :class:`~steadyflow.engine.Engine` documents what
each option does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from steadyflow.engine._clock import Clock
    from steadyflow.flow.base import Flow
    from steadyflow.persistence.base import Backend

__all__ = [
    "Durability",
    "EngineKind",
    "EngineOptions",
    "RevertMode",
    "RevokeOutcome",
    "RunOptions",
    "VersionPolicy",
]

EngineKind: TypeAlias = Literal["serial", "parallel", "asyncio", "workers", "celery", "dask"]
"""The engines ``engine=`` chooses from."""

RevertMode: TypeAlias = Literal["flow", "scope"]
"""What a failure nobody retries undoes (``revert=``)."""

Durability: TypeAlias = Literal["sync", "batched"]
"""When a persisted run's changes are committed (``durability=``)."""

RevokeOutcome: TypeAlias = Literal["reverted", "requested", "already-reverted"]
"""What :func:`steadyflow.revoke` did (``Revocation.outcome``): undone here, left as a
stored request for the runner holding the flow, or nothing left to undo."""

VersionPolicy: TypeAlias = Literal["error", "accept"]
"""Whether a resume accepts an atom whose version changed (``on_version_change=``)."""


class RunOptions(TypedDict, total=False):
    """Options of a run that does not name its flow detail itself.

    What :func:`steadyflow.load_from_backend` accepts: it passes ``backend``
    and ``flow_id`` on its own.
    """

    max_workers: int | None
    executor: Executor | None
    max_concurrency: int | None
    revert: RevertMode
    clock: Clock | None
    seed: int | None
    durability: Durability
    factory: str | Callable[..., Flow] | None
    factory_args: Sequence[Any]
    factory_kwargs: Mapping[str, Any] | None
    on_version_change: VersionPolicy
    book: str | None
    lease_ttl: float | None
    lease_epoch: int | None
    broker: str | None
    topic: str | None
    celery_app: Any
    client: Any


class EngineOptions(RunOptions, total=False):
    """Every keyword option of :func:`steadyflow.load` and :func:`steadyflow.run`."""

    flow_id: str | None
    backend: str | Backend | None

"""The one-call entry points: :func:`run`, :func:`run_async`, :func:`load` and
:func:`load_from_backend`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from steadyflow.engine.engine import Engine
from steadyflow.flow.base import Flow

if TYPE_CHECKING:
    from typing import Unpack

    from steadyflow.engine.options import EngineKind, EngineOptions, RunOptions
    from steadyflow.persistence.base import Backend

__all__ = ["load", "load_from_backend", "run", "run_async"]


def load(
    flow: Flow,
    store: Mapping[str, Any] | None = None,
    *,
    engine: EngineKind = "serial",
    **options: Unpack[EngineOptions],
) -> Engine:
    """An engine for ``flow``, ready to run; nothing runs yet.

    Args:
        flow: the flow to run.
        store: values available to every atom by name.
        engine: ``"serial"``, ``"parallel"`` or ``"asyncio"``.
        **options: typed keywords (:class:`~steadyflow.engine.options.EngineOptions`),
            passed to :class:`~steadyflow.engine.Engine` (``max_workers``,
            ``executor``, ``max_concurrency``, ``revert``, ``flow_id``, ``clock``,
            ``seed``, and for a persisted run ``backend``, ``durability``,
            ``factory``, ``factory_args``, ``factory_kwargs``,
            ``on_version_change``, ``book``).

    With ``backend=``, the run is persisted: a new ``flow_id`` (or none) creates
    a flow detail, an existing one resumes it (see docs/persistence.md). Close
    the engine (or use it as a context manager) to release a backend opened
    from a URL.
    """
    return Engine(flow, store=store, engine=engine, **options)


def load_from_backend(
    backend: str | Backend,
    flow_id: str,
    store: Mapping[str, Any] | None = None,
    *,
    engine: EngineKind = "serial",
    **options: Unpack[RunOptions],
) -> Engine:
    """Rebuild a persisted flow from its saved factory and return an engine resuming it.

    The flow must have been saved with ``factory=`` (see :func:`load`); its
    stored ``store`` is used, updated by ``store`` when given.

    Raises:
        ValueError: ``flow_id`` is not a valid flow id.
        TypeError: ``backend`` is neither a URL nor a Backend.
        NotFoundError: the backend holds no flow detail ``flow_id``.
        IncompatibleFlowError: the flow detail has no factory, or it cannot be
            imported, or the rebuilt flow does not fit the stored state.
    """
    from steadyflow.engine._persist import FactorySpec, check_flow_id, resolve_backend
    from steadyflow.errors import NotFoundError

    check_flow_id(flow_id)
    opened, owns = resolve_backend(backend)
    try:
        try:
            detail = opened.get_flow_detail(flow_id)
        except NotFoundError as exc:
            message = f"no flow detail {flow_id} in {opened!r}; nothing to resume"
            raise NotFoundError(message) from exc
        flow = FactorySpec.from_meta(detail.meta, flow_id).build()
        runner = Engine(
            flow, store=store, engine=engine, backend=opened, flow_id=flow_id, **options
        )
    except BaseException:
        if owns:
            opened.close()
        raise
    if owns:
        runner._own_backend()
    return runner


def run(
    flow: Flow,
    store: Mapping[str, Any] | None = None,
    *,
    engine: EngineKind = "serial",
    **options: Unpack[EngineOptions],
) -> dict[str, Any]:
    """Run ``flow`` to its end and return every name its atoms provided.

    Raises:
        Exception: the original error of the atom that failed, once everything
            that had completed was reverted.
    """
    with load(flow, store, engine=engine, **options) as runner:
        runner.run()
        return runner.storage.fetch_all()


async def run_async(
    flow: Flow,
    store: Mapping[str, Any] | None = None,
    *,
    engine: EngineKind = "asyncio",
    **options: Unpack[EngineOptions],
) -> dict[str, Any]:
    """Like :func:`run`, from a coroutine, without blocking the event loop.

    ``async def`` tasks run on the running loop, independent ones at once
    (pass ``engine="serial"`` for one at a time); synchronous tasks run on a
    thread pool.
    """
    with load(flow, store, engine=engine, **options) as runner:
        await runner.run_async()
        return runner.storage.fetch_all()

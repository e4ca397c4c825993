"""The one-call entry points: :func:`run`, :func:`run_async`, :func:`load`,
:func:`load_from_backend` and :func:`revoke`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from steadyflow.engine.engine import Engine
from steadyflow.flow.base import Flow

if TYPE_CHECKING:
    from typing import Unpack

    from steadyflow.engine._revoke import Revocation, RevokeRequest
    from steadyflow.engine.options import EngineKind, EngineOptions, RunOptions
    from steadyflow.persistence.base import Backend

__all__ = ["load", "load_from_backend", "revoke", "run", "run_async"]


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
    from steadyflow.engine._factory import FactorySpec
    from steadyflow.engine._persist import check_flow_id, resolve_backend
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


def revoke(
    backend: str | Backend,
    flow_id: str,
    reason: str | None = None,
    *,
    requested_by: str | None = None,
    wait: bool = False,
    **options: Unpack[RunOptions],
) -> Revocation:
    """Undo a stored flow: suspended, interrupted, failed, or even finished with SUCCESS.

    When nobody runs the flow, this takes its lease, rebuilds the flow from
    its saved factory (as :func:`load_from_backend` does) and reverts in this
    process everything that is applied; the flow ends REVERTED. When another
    runner holds the lease, this stores a revoke request instead (no lease
    needed) and returns at once: that runner reads it within about a second
    (:data:`~steadyflow.engine._revoke.REQUEST_POLL`) and reverts the flow
    itself; a runner that died first leaves the request to whoever takes the
    flow next, and that runner reverts instead of running forward.

    Args:
        backend: where the flow is stored (a URL or a Backend).
        flow_id: the flow detail to revoke.
        reason: why, kept with the request and given to the revoked run's error.
        requested_by: who asks (default: this host and process).
        wait: a run revoked by this call lets its running atoms finish first.
        **options: engine options for the revert done here (``lease_ttl``,
            ``on_version_change``, ...).

    Returns:
        What was done, as a :class:`~steadyflow.engine.Revocation`.

    Raises:
        ValueError: ``flow_id`` is not a valid flow id.
        TypeError: ``backend`` is neither a URL nor a Backend; ``reason`` or
            ``requested_by`` is not a string.
        NotFoundError: the backend holds no flow detail ``flow_id``.
        IncompatibleFlowError: the flow was saved without a factory, or it
            cannot be rebuilt, or the rebuilt flow does not fit.
        RevertFailedError: reverting here failed (the flow ends FAILURE; a
            later revoke tries the failed reverts again).
    """
    from steadyflow.engine._persist import check_flow_id, resolve_backend
    from steadyflow.engine._revoke import (
        Revocation,
        RevokeRequest,
        check_request,
        default_requester,
        write_request,
    )
    from steadyflow.errors import FlowLockedError

    check_flow_id(flow_id)
    check_request(reason, requested_by)
    request = RevokeRequest(reason, requested_by or default_requester(), wait, raise_error=False)
    opened, owns = resolve_backend(backend)
    try:
        try:
            return _revert_here(opened, flow_id, request, options)
        except FlowLockedError:
            write_request(opened, flow_id, request)
        try:
            # The runner may have let the flow go since: then nobody would read the request.
            return _revert_here(opened, flow_id, request, options)
        except FlowLockedError:
            return Revocation(flow_id, "requested", opened.get_flow_detail(flow_id).state)
    finally:
        if owns:
            opened.close()


def _revert_here(
    backend: Backend, flow_id: str, request: RevokeRequest, options: Mapping[str, Any]
) -> Revocation:
    """Take the flow's lease and revert it in this process.

    Raises:
        FlowLockedError: another runner holds the flow.
    """
    from steadyflow.engine._factory import FactorySpec
    from steadyflow.engine._revoke import Revocation
    from steadyflow.errors import NotFoundError
    from steadyflow.states import FlowState

    try:
        detail = backend.get_flow_detail(flow_id)
    except NotFoundError as exc:
        raise NotFoundError(f"no flow detail {flow_id} in {backend!r}; nothing to revoke") from exc
    if detail.state is FlowState.REVERTED:
        return Revocation(flow_id, "already-reverted", detail.state)
    flow = FactorySpec.from_meta(detail.meta, flow_id).build()
    with Engine(flow, backend=backend, flow_id=flow_id, **options) as engine:
        engine.revoke(
            request.reason,
            wait=request.wait,
            raise_error=False,
            requested_by=request.requested_by,
        )
        engine.run()
        state = engine.storage.flow_state
    return Revocation(flow_id, "reverted", state)

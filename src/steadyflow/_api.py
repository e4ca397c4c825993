"""The one-call entry points: :func:`run`, :func:`run_async` and :func:`load`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steadyflow.engine.engine import Engine
from steadyflow.flow.base import Flow

__all__ = ["load", "run", "run_async"]


def load(
    flow: Flow,
    store: Mapping[str, Any] | None = None,
    *,
    engine: str = "serial",
    **options: Any,
) -> Engine:
    """An engine for ``flow``, ready to run; nothing runs yet.

    Args:
        flow: the flow to run.
        store: values available to every atom by name.
        engine: ``"serial"``, ``"parallel"`` or ``"asyncio"``.
        **options: passed to :class:`~steadyflow.engine.Engine` (``max_workers``,
            ``executor``, ``max_concurrency``, ``revert``, ``flow_id``, ``clock``,
            ``seed``).
    """
    return Engine(flow, store=store, engine=engine, **options)


def run(
    flow: Flow,
    store: Mapping[str, Any] | None = None,
    *,
    engine: str = "serial",
    **options: Any,
) -> dict[str, Any]:
    """Run ``flow`` to its end and return every name its atoms provided.

    Raises:
        Exception: the original error of the atom that failed, once everything
            that had completed was reverted.
    """
    runner = load(flow, store, engine=engine, **options)
    runner.run()
    return runner.storage.fetch_all()


async def run_async(
    flow: Flow,
    store: Mapping[str, Any] | None = None,
    *,
    engine: str = "asyncio",
    **options: Any,
) -> dict[str, Any]:
    """Like :func:`run`, from a coroutine, without blocking the event loop.

    ``async def`` tasks run on the running loop, independent ones at once
    (pass ``engine="serial"`` for one at a time); synchronous tasks run on a
    thread pool.
    """
    runner = load(flow, store, engine=engine, **options)
    await runner.run_async()
    return runner.storage.fetch_all()

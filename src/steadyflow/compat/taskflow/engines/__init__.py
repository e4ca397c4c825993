"""TaskFlow's ``taskflow.engines``: load and run flows on steadyflow's engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import steadyflow as sf
from steadyflow.compat.taskflow.engines.action_engine.engine import (
    ActionEngine,
    ParallelActionEngine,
    SerialActionEngine,
)

__all__ = [
    "ENGINE_DEFAULT",
    "flow_from_detail",
    "load",
    "load_from_detail",
    "load_from_factory",
    "run",
    "save_factory_details",
]

ENGINE_DEFAULT = "default"

_ENGINES: dict[str, type[ActionEngine]] = {
    "default": SerialActionEngine,
    "serial": SerialActionEngine,
    "parallel": ParallelActionEngine,
}


def _engine_class(engine: str) -> type[ActionEngine]:
    name = engine.partition("://")[0] if "://" in engine else engine
    try:
        return _ENGINES[name]
    except KeyError:
        from steadyflow.compat.taskflow import exceptions

        raise exceptions.NotFound(
            f"Could not find engine '{name}'; the layer covers {sorted(_ENGINES)}"
        ) from None


def load(
    flow: sf.Flow,
    store: Mapping[str, Any] | None = None,
    flow_detail: Any = None,
    book: Any = None,
    backend: Any = None,
    namespace: str = "taskflow.engines",
    engine: str = ENGINE_DEFAULT,
    **kwargs: Any,
) -> ActionEngine:
    """An engine for ``flow``; nothing runs yet.

    Args:
        flow: the flow.
        store: values available to every atom by name.
        flow_detail: a stored flow detail to record into (or resume).
        book: the logbook a new flow detail is filed in.
        backend: a backend from ``taskflow.persistence.backends.fetch``.
        engine: ``"serial"`` (or ``"default"``) or ``"parallel"``.
        **kwargs: engine options: ``max_workers``, ``executor``.
    """
    cls = _engine_class(engine)
    if backend is not None and not hasattr(backend, "get_connection"):
        from steadyflow.compat.taskflow.persistence import backends

        backend = backends.fetch(backend)
    if backend is not None and flow_detail is None:
        from steadyflow.compat.taskflow.persistence._bridge import new_flow_detail

        book, flow_detail = new_flow_detail(backend, flow, book)
    return cls(flow, flow_detail, backend, kwargs, store=store, book=book)


def run(flow: sf.Flow, store: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Load and run ``flow``; every stored and provided name with its value."""
    engine = load(flow, store=store, **kwargs)
    engine.run()
    return engine.storage.fetch_all()


def save_factory_details(
    flow_detail: Any,
    flow_factory: Any,
    factory_args: Any,
    factory_kwargs: Any,
    backend: Any = None,
) -> None:
    """Record in ``flow_detail`` how to rebuild its flow (see :func:`flow_from_detail`)."""
    from steadyflow.compat.taskflow.persistence._bridge import save_factory

    save_factory(flow_detail, flow_factory, factory_args, factory_kwargs, backend)


def load_from_factory(
    flow_factory: Any,
    factory_args: Any = None,
    factory_kwargs: Any = None,
    store: Mapping[str, Any] | None = None,
    book: Any = None,
    backend: Any = None,
    namespace: str = "taskflow.engines",
    engine: str = ENGINE_DEFAULT,
    **kwargs: Any,
) -> ActionEngine:
    """Build the flow with ``flow_factory`` and load it, remembering the factory."""
    flow = flow_factory(*(factory_args or ()), **(factory_kwargs or {}))
    loaded = load(flow, store=store, book=book, backend=backend, engine=engine, **kwargs)
    if loaded.flow_detail is not None:
        save_factory_details(
            loaded.flow_detail, flow_factory, factory_args, factory_kwargs, loaded.backend
        )
    return loaded


def flow_from_detail(flow_detail: Any) -> sf.Flow:
    """Rebuild the flow of ``flow_detail`` from its saved factory.

    Raises:
        ValueError: the flow detail has no factory recorded.
    """
    from steadyflow.compat.taskflow.persistence._bridge import build_from_factory

    return build_from_factory(flow_detail)


def load_from_detail(
    flow_detail: Any,
    store: Mapping[str, Any] | None = None,
    backend: Any = None,
    namespace: str = "taskflow.engines",
    engine: str = ENGINE_DEFAULT,
    **kwargs: Any,
) -> ActionEngine:
    """An engine resuming ``flow_detail``, its flow rebuilt from the saved factory."""
    flow = flow_from_detail(flow_detail)
    return load(
        flow, store=store, flow_detail=flow_detail, backend=backend, engine=engine, **kwargs
    )

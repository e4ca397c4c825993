"""Remote workers: run a flow's tasks on other machines, over a message broker.

The engine side is ``sf.load(flow, engine="workers", broker=..., topic=...)``;
the worker side is :class:`Worker` (or ``steadyflow worker --broker URL
--topic T module ...``). Both need kombu (``pip install 'steadyflow[workers]'``),
imported only when a worker or a workers engine starts. See docs/workers.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from steadyflow.workers.executor import WorkersExecutor
    from steadyflow.workers.worker import Worker

__all__ = ["Worker", "WorkersExecutor"]


def __getattr__(name: str) -> Any:
    # Importing these does not import kombu either; starting them does.
    if name == "Worker":
        from steadyflow.workers.worker import Worker

        return Worker
    if name == "WorkersExecutor":
        from steadyflow.workers.executor import WorkersExecutor

        return WorkersExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

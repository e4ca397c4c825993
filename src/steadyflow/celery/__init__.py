"""The ``celery`` engine: a flow's tasks run on a Celery fleet the user already has.

Worker side: ``steadyflow.celery.install(app, tasks=[...])`` registers one
generic Celery task that runs only the allowlisted steadyflow tasks. Engine
side: ``sf.load(flow, engine="celery", celery_app=app)``. Requests and
replies are the versioned JSON messages of the workers engine, never pickle.
Needs ``pip install 'steadyflow[celery]'``; celery is imported only when
used. See docs/workers.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from steadyflow.celery._install import TASK_NAME, install
    from steadyflow.celery.executor import CeleryExecutor

__all__ = ["TASK_NAME", "CeleryExecutor", "install"]


def __getattr__(name: str) -> Any:
    # Importing these does not import celery; using them does.
    if name in ("install", "TASK_NAME"):
        from steadyflow.celery import _install

        return getattr(_install, name)
    if name == "CeleryExecutor":
        from steadyflow.celery.executor import CeleryExecutor

        return CeleryExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

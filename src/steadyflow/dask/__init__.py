"""The ``dask`` engine: a flow's tasks run as futures on a Dask cluster the user already has.

``sf.load(flow, engine="dask", client=distributed.Client(...))`` (or a
scheduler address): the engine keeps the flow's state, order, retries and
reverts; each task's ``execute`` or ``revert`` is one Dask future. Needs
``pip install 'steadyflow[dask]'``; distributed is imported only when such
an engine starts. See docs/workers.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from steadyflow.dask.executor import DaskExecutor

__all__ = ["DaskExecutor"]


def __getattr__(name: str) -> Any:
    # Importing the executor does not import distributed either; starting it does.
    if name == "DaskExecutor":
        from steadyflow.dask.executor import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

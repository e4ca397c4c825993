"""The live web dashboard: flows, their graphs and timelines, jobs (``steadyflow[dashboard]``).

Start it with ``steadyflow dashboard --backend URL`` (or ``python -m
steadyflow.dashboard``), or serve :func:`create_app` with any ASGI server.
It reads the store and never hooks the engine; it is read-only unless
started with ``--allow-actions``. See docs/dashboard.md.

Importing this package imports nothing optional: Starlette and Jinja load
when :func:`create_app` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from steadyflow.dashboard._app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        try:
            from steadyflow.dashboard._app import create_app
        except ModuleNotFoundError as exc:
            if exc.name in ("starlette", "jinja2"):
                raise ModuleNotFoundError(
                    f"the dashboard needs {exc.name}: pip install 'steadyflow[dashboard]'",
                    name=exc.name,
                ) from exc
            raise
        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""An executor that runs each call as it is submitted, in the submitting thread.

TaskFlow's serial engine starts every atom that is ready at once (announcing
each RUNNING), then runs them one after the other in the caller's thread, and
announces their results together. steadyflow's serial engine starts one atom
per round. Giving steadyflow's thread-pool engine this executor reproduces
TaskFlow's rounds exactly, through steadyflow's public ``executor=`` option.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

__all__ = ["SynchronousExecutor"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class SynchronousExecutor(Executor):
    """``submit`` calls ``fn`` at once and returns its finished future."""

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        future: Future[_T] = Future()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # the engine decides what a KeyboardInterrupt means
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def unlimited() -> dict[str, Any]:
    """Engine options for a TaskFlow serial engine: every ready atom in one round."""
    return {"executor": SynchronousExecutor(), "max_workers": 1 << 20}

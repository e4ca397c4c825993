"""steadyflow: task execution that finishes or is cleanly undone, and survives crashes.

Declare tasks and flows, then run them::

    import steadyflow as sf

    @sf.task(provides="vm_id")
    def boot(image: str) -> str: ...

    results = sf.run(sf.Linear("boot", boot), store={"image": "ubuntu"})
"""

from typing import TYPE_CHECKING, Any

from steadyflow import errors, events, listeners, retry
from steadyflow._api import load, load_from_backend, revoke, run, run_async
from steadyflow.context import AtomContext, current_context
from steadyflow.engine import Engine, Storage
from steadyflow.errors import FlowRevokedError, SteadyflowError
from steadyflow.failure import Failure
from steadyflow.flow import Depth, Flow, Graph, Linear, Unordered
from steadyflow.mapreduce import Map, Reduce
from steadyflow.retry import Retry
from steadyflow.states import AtomState, EngineState, FlowState
from steadyflow.task import FunctionTask, Task, task

if TYPE_CHECKING:
    from steadyflow import conductors, jobs, persistence, workers

__version__ = "0.1.0"

__all__ = [
    # declaring
    "Task",
    "FunctionTask",
    "task",
    "Retry",
    "retry",
    "Flow",
    "Linear",
    "Unordered",
    "Graph",
    "Depth",
    "Map",
    "Reduce",
    # running
    "run",
    "run_async",
    "load",
    "Engine",
    "Storage",
    "AtomContext",
    "current_context",
    # outcomes and states
    "Failure",
    "AtomState",
    "FlowState",
    "EngineState",
    # persisting
    "load_from_backend",
    "revoke",
    "persistence",
    # running jobs
    "jobs",
    "conductors",
    # remote workers
    "workers",
    # observing
    "events",
    "listeners",
    # errors
    "errors",
    "SteadyflowError",
    "FlowRevokedError",
    "__version__",
]


#: Subpackages imported on first use: an in-memory run never pays for them.
_LAZY_SUBPACKAGES = frozenset({"persistence", "jobs", "conductors", "workers"})


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f"steadyflow.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

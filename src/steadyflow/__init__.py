"""steadyflow: task execution that finishes or is cleanly undone, and survives crashes.

Declare tasks and flows, then run them::

    import steadyflow as sf

    @sf.task(provides="vm_id")
    def boot(image: str) -> str: ...

    results = sf.run(sf.Linear("boot", boot), store={"image": "ubuntu"})
"""

from steadyflow import errors, events, listeners, retry
from steadyflow._api import load, load_from_backend, run, run_async
from steadyflow.context import AtomContext, current_context
from steadyflow.engine import Engine, Storage
from steadyflow.errors import SteadyflowError
from steadyflow.failure import Failure
from steadyflow.flow import Depth, Flow, Graph, Linear, Unordered
from steadyflow.retry import Retry
from steadyflow.states import AtomState, EngineState, FlowState
from steadyflow.task import FunctionTask, Task, task

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
    # running
    "run",
    "run_async",
    "load",
    "load_from_backend",
    "Engine",
    "Storage",
    "AtomContext",
    "current_context",
    # outcomes and states
    "Failure",
    "AtomState",
    "FlowState",
    "EngineState",
    # observing
    "events",
    "listeners",
    # errors
    "errors",
    "SteadyflowError",
    "__version__",
]

"""Which task a request names, and the allowlist a worker runs from.

A task travels as a reference to its code, ``module:qualname`` of the
function of a function task or of the class of a class-based one, plus its
``version``; never as pickled code. Only the inputs travel with it, so a
class-based task's own instance attributes are the worker's instance's.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

from steadyflow.errors import InvalidAtomError, UnknownTaskError
from steadyflow.task import FunctionTask, Task

__all__ = ["Allowlist", "task_ref"]

_log = logging.getLogger("steadyflow.workers")


def task_ref(task: Task) -> str:
    """``module:qualname`` of the code behind ``task``: what a worker looks it up by."""
    code: Any = task.fn if isinstance(task, FunctionTask) else type(task)
    return f"{code.__module__}:{code.__qualname__}"


class Allowlist:
    """The tasks a worker runs, by reference and version; nothing else is run.

    Args:
        tasks: Task instances, Task subclasses (instantiated without arguments)
            or plain functions (wrapped as function tasks, version "1.0").
        modules: names of modules to import and scan: every module-level Task
            instance (``@sf.task`` functions included) and every Task subclass
            defined there that can be built without arguments.

    Raises:
        InvalidAtomError: an entry of ``tasks`` is none of those.
        ImportError: a module cannot be imported.
    """

    def __init__(self, tasks: Iterable[Any] = (), modules: Iterable[str] = ()) -> None:
        self._tasks: dict[tuple[str, str], Task] = {}
        for entry in tasks:
            self.add(_as_task(entry))
        for name in modules:
            self._scan(importlib.import_module(name))

    def add(self, task: Task) -> None:
        """Allow ``task`` (by its reference and version)."""
        self._tasks.setdefault((task_ref(task), task.version), task)

    def _scan(self, module: Any) -> None:
        found = 0
        for value in list(vars(module).values()):
            if isinstance(value, Task) and _defined_in(value, module.__name__):
                self.add(value)
                found += 1
        for value in list(vars(module).values()):
            if not _own_task_class(value, module.__name__):
                continue
            try:
                self.add(value())
                found += 1
            except Exception as exc:  # needs arguments, or is an abstract base
                _log.info(
                    "not registering %s: it cannot be built without arguments (%s)", value, exc
                )
        if not found:
            _log.warning("module %s defines no task this worker can run", module.__name__)

    def get(self, ref: str, version: str) -> Task:
        """The task to run for a request.

        Raises:
            UnknownTaskError: not on the allowlist (naming what is).
        """
        task = self._tasks.get((ref, version))
        if task is not None:
            return task
        versions = sorted(v for r, v in self._tasks if r == ref)
        if versions:
            raise UnknownTaskError(
                f"this worker runs {ref} only in versions {versions}, not {version!r}"
            )
        raise UnknownTaskError(f"this worker does not run {ref} (it runs {self.names()})")

    def names(self) -> list[list[str]]:
        """Every allowed ``[reference, version]``, sorted (what a worker announces)."""
        return [[ref, version] for ref, version in sorted(self._tasks)]

    def __len__(self) -> int:
        return len(self._tasks)


def _defined_in(task: Task, module: str) -> bool:
    code: Any = task.fn if isinstance(task, FunctionTask) else type(task)
    return getattr(code, "__module__", None) == module


def _own_task_class(value: Any, module: str) -> bool:
    return (
        inspect.isclass(value)
        and issubclass(value, Task)
        and value is not FunctionTask
        and value.__module__ == module
    )


def _as_task(entry: Any) -> Task:
    if isinstance(entry, Task):
        return entry
    if inspect.isclass(entry) and issubclass(entry, Task):
        built: Task = entry()
        return built
    if callable(entry):
        fn: Callable[..., Any] = entry
        return FunctionTask(fn)
    raise InvalidAtomError(f"a worker runs tasks, task classes or functions, not {entry!r}")

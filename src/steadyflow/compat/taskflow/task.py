"""TaskFlow's tasks (``taskflow.task``) as steadyflow tasks.

A :class:`Task` here *is* a :class:`steadyflow.Task`, so the engine runs it
with no wrapping: inputs come from ``execute``'s signature, ``provides``,
``requires``, ``rebind`` and ``inject`` mean what they mean in TaskFlow.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import steadyflow as sf
from steadyflow.compat.taskflow import _internals, _naming
from steadyflow.compat.taskflow.types.failure import Failure
from steadyflow.compat.taskflow.types.notifier import Notifier

__all__ = ["EVENT_UPDATE_PROGRESS", "BaseTask", "FunctorTask", "Task"]

EVENT_UPDATE_PROGRESS = "update_progress"
"""The event a task's own notifier sends from :meth:`Task.update_progress`."""


class Task(sf.Task):
    """A TaskFlow task: subclass it and define ``execute`` (and ``revert``).

    Args:
        name: defaults to the class's module and qualified name.
        provides: a name (the whole result) or names (the result by position);
            defaults to ``default_provides``. A result without ``provides`` is
            still kept and readable with ``engine.storage.get(name)``.
        requires: extra input names, for an ``execute`` taking ``**kwargs``.
        rebind: new names for ``execute``'s inputs (list by position, or dict).
        inject: values for this task alone.
    """

    default_provides: ClassVar[Any] = None
    version: Any = (1, 0)  # TaskFlow declares it on the class; an instance may override it
    TASK_EVENTS = (EVENT_UPDATE_PROGRESS,)

    def __init__(
        self,
        name: str | None = None,
        provides: Any = None,
        requires: Any = None,
        auto_extract: bool = True,
        rebind: Any = None,
        inject: Mapping[str, Any] | None = None,
        ignore_list: Any = None,
        revert_rebind: Any = None,
        revert_requires: Any = None,
    ) -> None:
        self.notifier = Notifier()
        if provides is None:
            provides = self.default_provides
        # steadyflow would parse default_provides itself, and refuses TaskFlow's sets:
        # hide it while the base class binds, then show the class attribute again.
        self.default_provides = None  # type: ignore[misc]
        super().__init__(
            name if name is not None else _naming.default_name(type(self)),
            requires=_naming.requires_for(requires),
            rebind=_naming.rebind_for(rebind),
            inject=inject,
            version=_naming.version_text(self.version),
        )
        del self.default_provides
        self.provides_spec = _internals.provides_spec(provides, self.name)

    def update_progress(self, progress: float) -> None:
        """Tell this task's notifier (and the engine's listeners) how far it got."""
        fraction = min(1.0, max(0.0, float(progress)))
        if self.notifier.watching:
            self.notifier.notify(EVENT_UPDATE_PROGRESS, {"progress": fraction})
        super().update_progress(fraction)

    def revert_arguments(
        self, inputs: Mapping[str, Any], result: Any, flow_failures: Mapping[str, Any]
    ) -> dict[str, Any]:
        """What ``revert`` gets, with failures shown as TaskFlow's :class:`Failure`."""
        if isinstance(result, sf.Failure):
            result = Failure.adopt(result)
        failures = {name: Failure.adopt(failure) for name, failure in flow_failures.items()}
        return super().revert_arguments(inputs, result, failures)

    def report_progress_around_execute(self) -> None:
        """Report 0.0 before and 1.0 after ``execute``, as TaskFlow's engine does (once)."""
        execute = self.execute
        if getattr(execute, "reports_progress", False):
            return

        @functools.wraps(execute)
        def reporting(*args: Any, **kwargs: Any) -> Any:
            self.update_progress(0.0)
            result = execute(*args, **kwargs)
            self.update_progress(1.0)
            return result

        reporting.reports_progress = True  # type: ignore[attr-defined]
        self.execute = reporting  # type: ignore[method-assign]

    def __str__(self) -> str:
        return f'"{self.name}=={_naming.version_text(self.version)}"'


BaseTask = Task


class FunctorTask(Task):
    """A task made of a function (``execute``) and optionally a ``revert`` function."""

    def __init__(
        self,
        execute: Callable[..., Any],
        name: str | None = None,
        provides: Any = None,
        requires: Any = None,
        auto_extract: bool = True,
        rebind: Any = None,
        revert: Callable[..., Any] | None = None,
        version: Any = None,
        inject: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(execute):
            raise ValueError(f"Function to use for executing must be callable, not {execute!r}")
        if revert is not None and not callable(revert):
            raise ValueError(f"Function to use for reverting must be callable, not {revert!r}")
        # The functions themselves are the task's work: steadyflow reads the inputs
        # from execute's signature and calls it directly, with no method in between.
        self.execute = execute  # type: ignore[method-assign]
        if revert is not None:
            self.revert = revert  # type: ignore[method-assign]
        if version is not None:
            self.version = version
        if name is None:
            name = f"{execute.__module__}.{getattr(execute, '__qualname__', repr(execute))}"
        super().__init__(name, provides=provides, requires=requires, rebind=rebind, inject=inject)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        """Replaced by the ``execute`` function given (this one is never called)."""
        raise NotImplementedError  # pragma: no cover - __init__ shadows it

    def revert(self, *args: Any, **kwargs: Any) -> Any:
        """Does nothing unless a ``revert`` function was given (which replaces it)."""
        return None

"""Tasks: one action and how to undo it.

A task's inputs are the parameters of its ``execute`` method; its ``revert``
receives the same inputs plus, keyword-only, ``result`` (what ``execute``
returned, or the :class:`~steadyflow.Failure` it raised) and
``flow_failures`` (atom name -> Failure, everything that failed in the run).
A ``revert`` may accept only the names it cares about: the engine passes
each one only the arguments it declares (or all of them to ``**kwargs``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Generic, ParamSpec, TypeVar, overload

from steadyflow.atom import Atom, Provides, Rebind, Signature, is_coroutine_function
from steadyflow.context import _current
from steadyflow.errors import InvalidAtomError

__all__ = ["FunctionTask", "Task", "task"]

P = ParamSpec("P")
R = TypeVar("R")


def _default_function_name(fn: Callable[..., Any]) -> str:
    """A function task's default name: the function's own, which people can type.

    Raises:
        InvalidAtomError: ``fn`` is a lambda (or another callable without a
            usable ``__name__``), which must be named with ``name=``.
    """
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidAtomError(
            f"{fn!r} has no usable name (a lambda or a partial); pass name=... to task()"
        )
    return name


class Task(Atom):
    """An action with an optional undo; subclass it and define ``execute``.

    Args:
        name: unique within a flow; defaults to the class's name (``CreateVM``).
        provides: the name(s) the result is published under; defaults to the
            class attribute ``default_provides``.
        requires: extra input names, for an ``execute`` taking ``**kwargs``;
            a single string is one name.
        rebind: new symbol names for ``execute``'s parameters, as a list (by
            position) or a dict (parameter -> symbol).
        inject: values pinned for this task alone; they win over providers
            and ``store`` (which is the fallback when nothing earlier provides
            a name).
        timeout: seconds ``execute`` may take before it fails with
            :class:`~steadyflow.errors.TaskTimeoutError`.
        version: recorded with the task's state; a resume refuses a task whose
            version changed since its state was saved.

    Raises:
        InvalidAtomError: the arguments do not fit ``execute``'s signature, or
            ``revert`` requires an input ``execute`` does not receive.
    """

    default_provides: ClassVar[Provides] = None

    def __init__(
        self,
        name: str | None = None,
        *,
        provides: Provides = None,
        requires: Iterable[str] | None = None,
        rebind: Rebind = None,
        inject: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        version: str = "1.0",
    ) -> None:
        if type(self).execute is Task.execute:
            raise InvalidAtomError(f"{type(self).__name__} must define execute()")
        self._bind(
            self.execute,
            name=name if name is not None else type(self).__name__,
            provides=provides if provides is not None else self.default_provides,
            requires=requires,
            rebind=rebind,
            inject=inject,
            version=version,
        )
        if timeout is not None and not timeout > 0:
            raise InvalidAtomError(f"{self.name}: timeout must be a positive number of seconds")
        self.timeout = timeout
        self._revert_signature = Signature.of(self._undo_method(), self.name)
        self._check_revert_inputs()
        # Inspect once while declaring, not on the engine's hot path.
        _ = self.is_async, self.revert_is_async

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        """Do the work; the return value is published under ``provides``."""
        raise NotImplementedError  # pragma: no cover - __init__ refuses tasks without it

    def revert(self, *args: Any, **kwargs: Any) -> Any:
        """Undo what ``execute`` did, or clean up after its failure.

        The default does nothing: a task without side effects needs no undo.
        """
        return None

    def _undo_method(self) -> Callable[..., Any]:
        """What the engine calls to revert this task (and reads the signature of)."""
        return self.revert

    def _check_revert_inputs(self) -> None:
        """Refuse a revert that needs an input execute does not (surely) receive.

        Found only at run time, such a revert fails while undoing, and what
        execute created is left behind; so it is a declaration error.
        """
        signature = self._revert_signature
        offered = set(self.arg_symbols).union(("result", "flow_failures"))
        needed = [arg for arg in signature.args if arg not in signature.optional]
        unknown = [arg for arg in needed if arg not in offered]
        if unknown:
            raise InvalidAtomError(
                f"{self.name}: revert requires {unknown}, which execute does not receive; "
                f"revert gets execute's inputs {sorted(self.arg_symbols)} plus result and "
                f"flow_failures (give those parameters defaults, or add them to execute)"
            )
        maybe_absent = [
            arg
            for arg in needed
            if arg in self.optional_args and arg not in self.inject and arg in self.arg_symbols
        ]
        if maybe_absent:
            raise InvalidAtomError(
                f"{self.name}: revert requires {maybe_absent}, which execute takes with a "
                f"default and may not receive; give them a default in revert too"
            )

    @functools.cached_property
    def is_async(self) -> bool:
        """Whether ``execute`` is a coroutine function (run on an event loop)."""
        return is_coroutine_function(self.execute)

    @functools.cached_property
    def revert_is_async(self) -> bool:
        """Whether ``revert`` is a coroutine function."""
        return is_coroutine_function(self.revert)

    def revert_arguments(
        self, inputs: Mapping[str, Any], result: Any, flow_failures: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The keyword arguments ``revert`` accepts out of everything on offer."""
        offered = dict(inputs)
        offered["result"] = result
        offered["flow_failures"] = dict(flow_failures)
        return self._revert_signature.filter_for(offered)

    def update_progress(self, fraction: float) -> None:
        """Report progress, a fraction from 0.0 to 1.0, to the engine's listeners.

        Does nothing when the task is called outside an engine.
        """
        context = _current.get()
        if context is not None:
            context.report_progress(min(1.0, max(0.0, float(fraction))))


class FunctionTask(Task, Generic[P, R]):
    """A task made from a plain function by :func:`task`.

    The instance stays callable: calling it calls the function, so a decorated
    function is still usable (and testable) as a function. It is generic in
    the function's parameters and return type, so type checkers check such
    calls as they would the function's (``FunctionTask[[str], int]``).
    """

    fn: Callable[P, R]

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        *,
        revert: Callable[..., Any] | None = None,
        provides: Provides = None,
        requires: Iterable[str] | None = None,
        rebind: Rebind = None,
        inject: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        version: str = "1.0",
    ) -> None:
        if not callable(fn) or isinstance(fn, type):
            raise InvalidAtomError(f"task() needs a function, not {fn!r}")
        self.fn = fn
        self.revert_fn = revert
        functools.update_wrapper(self, fn)
        super().__init__(
            name if name is not None else _default_function_name(fn),
            provides=provides,
            requires=requires,
            rebind=rebind,
            inject=inject,
            timeout=timeout,
            version=version,
        )

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def revert(self, *args: Any, **kwargs: Any) -> Any:
        if self.revert_fn is None:
            return None
        return self.revert_fn(*args, **kwargs)

    def _undo_method(self) -> Callable[..., Any]:
        return self.revert_fn if self.revert_fn is not None else self.revert

    def _bind(self, method: Callable[..., Any], **kwargs: Any) -> None:
        # Inputs come from the wrapped function, not the generic execute().
        super()._bind(self.fn, **kwargs)

    @functools.cached_property
    def is_async(self) -> bool:
        return is_coroutine_function(self.fn)

    @functools.cached_property
    def revert_is_async(self) -> bool:
        return self.revert_fn is not None and is_coroutine_function(self.revert_fn)

    def revert_arguments(
        self, inputs: Mapping[str, Any], result: Any, flow_failures: Mapping[str, Any]
    ) -> dict[str, Any]:
        if self.revert_fn is None:
            return {}
        return super().revert_arguments(inputs, result, flow_failures)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)


@overload
def task(
    fn: Callable[P, R],
    /,
    *,
    name: str | None = ...,
    provides: Provides = ...,
    revert: Callable[..., Any] | None = ...,
    requires: Iterable[str] | None = ...,
    rebind: Rebind = ...,
    inject: Mapping[str, Any] | None = ...,
    timeout: float | None = ...,
    version: str = ...,
) -> FunctionTask[P, R]: ...


@overload
def task(
    fn: None = None,
    /,
    *,
    name: str | None = ...,
    provides: Provides = ...,
    revert: Callable[..., Any] | None = ...,
    requires: Iterable[str] | None = ...,
    rebind: Rebind = ...,
    inject: Mapping[str, Any] | None = ...,
    timeout: float | None = ...,
    version: str = ...,
) -> Callable[[Callable[P, R]], FunctionTask[P, R]]: ...


def task(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    provides: Provides = None,
    revert: Callable[..., Any] | None = None,
    requires: Iterable[str] | None = None,
    rebind: Rebind = None,
    inject: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    version: str = "1.0",
) -> FunctionTask[P, R] | Callable[[Callable[P, R]], FunctionTask[P, R]]:
    """Turn a function into a task: ``@task``, ``@task(provides=...)`` or ``task(fn, ...)``.

    Args:
        fn: the function doing the work; its parameters are the task's inputs.
        name: defaults to the function's name (``create_vm``); a lambda needs one.
        provides: see :class:`Task`.
        revert: a function undoing ``fn``; gets ``fn``'s inputs plus
            keyword-only ``result`` and ``flow_failures`` (each only if it
            declares them).
        requires: see :class:`Task`.
        rebind: see :class:`Task`.
        inject: see :class:`Task`.
        timeout: see :class:`Task`.
        version: see :class:`Task`.
    """

    def build(function: Callable[P, R]) -> FunctionTask[P, R]:
        return FunctionTask(
            function,
            name,
            revert=revert,
            provides=provides,
            requires=requires,
            rebind=rebind,
            inject=inject,
            timeout=timeout,
            version=version,
        )

    if fn is None:
        return build
    return build(fn)

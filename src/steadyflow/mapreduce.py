"""Map and reduce over lists whose length is only known at run time.

``Map(task_or_fn, over="items", provides="results")`` is one atom of the
flow that the engine expands, when it runs, into one sub-job per element of
``items``. Each element has its own state, result and revert (and, with
``retry=``, its own attempts), all recorded in the map atom's storage, so a
resumed run redoes only the elements that had not finished. The map's result
is the list of element results, in element order.

``Reduce(fn, over="results", provides="total")`` folds such a list into one
value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from steadyflow.atom import Provides, Rebind
from steadyflow.errors import InvalidAtomError, InvalidInputError
from steadyflow.retry import Retry
from steadyflow.task import FunctionTask, Task

__all__ = ["ITEMS_ARG", "Map", "Reduce"]

ITEMS_ARG = "_items"
"""The parameter of a map's and reduce's ``execute`` that receives the list."""

_NO_INITIAL: Any = object()


class Map(Task):
    """Runs a task (or function) once per element of a list, at run time.

    The element is passed as the first parameter of the task's ``execute``
    (or of the function); its other parameters are ordinary inputs, resolved
    once for all elements. Reverting the map reverts every element that ran,
    each one's ``revert`` receiving its element, inputs and ``result``.

    Args:
        task_or_fn: a :class:`Task` or a function (``async def`` works too).
        over: the name of the input list.
        provides: the name the list of results is published under.
        name: the map's atom name (default: ``map-<task name>``).
        retry: a controller whose policy (``on_failure``, ``delay``,
            ``backoff``, ``on``...) decides whether one failed element runs
            again; only that element is retried. Without it, the first
            failed element fails the map once its running siblings finish.
        rebind: new symbol names for the element task's other inputs.
        inject: values pinned for the element task's other inputs.
        timeout: seconds each element may take.

    Raises:
        InvalidAtomError: the task takes no parameter for the element.
    """

    def __init__(
        self,
        task_or_fn: Task | Callable[..., Any],
        *,
        over: str = "items",
        provides: str | None = None,
        name: str | None = None,
        retry: Retry | None = None,
        rebind: Rebind = None,
        inject: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        version: str = "1.0",
    ) -> None:
        if isinstance(task_or_fn, Task):
            element = task_or_fn
        elif callable(task_or_fn):
            # A lambda has no name of its own: it borrows the map's, when given.
            unnamed = getattr(task_or_fn, "__name__", "<lambda>") == "<lambda>"
            element = FunctionTask(
                task_or_fn,
                f"{name}-element" if unnamed and name is not None else None,
                rebind=rebind,
                inject=inject,
                timeout=timeout,
            )
        else:
            raise InvalidAtomError(f"Map needs a task or a function, not {task_or_fn!r}")
        if not element.arg_symbols:
            raise InvalidAtomError(
                f"Map: {element.name!r} takes no parameter to receive each element"
            )
        if retry is not None and not isinstance(retry, Retry):
            raise InvalidAtomError(f"Map: retry= takes a retry controller, not {retry!r}")
        self.element = element
        self.element_arg = next(iter(element.arg_symbols))
        self.element_retry = retry
        self._over = over
        self._element_timeout = timeout if timeout is not None else element.timeout
        super().__init__(
            name if name is not None else f"map-{element.name}",
            provides=provides,
            version=version,
            timeout=self._element_timeout,
        )

    def _bind(self, method: Callable[..., Any], **kwargs: Any) -> None:
        # Inputs: the list, plus the element task's inputs other than the element.
        super()._bind(method, **kwargs)
        element = self.element
        symbols = {ITEMS_ARG: self._over}
        symbols.update((a, s) for a, s in element.arg_symbols.items() if a != self.element_arg)
        self.arg_symbols = symbols
        self.optional_args = element.optional_args - {self.element_arg}
        self.inject = {k: v for k, v in element.inject.items() if k != self.element_arg}

    def items_of(self, value: Any) -> list[Any]:
        """The elements to map over, out of the input named by ``over``.

        Raises:
            InvalidInputError: ``value`` is a string, bytes or not iterable.
        """
        if isinstance(value, str | bytes | bytearray):
            raise InvalidInputError(
                f"Map {self.name!r} maps over {self._over!r}, which is a "
                f"{type(value).__name__} ({value!r:.40}); pass a list of elements "
                f"(a string would be mapped per character)"
            )
        try:
            return list(value)
        except TypeError:
            raise InvalidInputError(
                f"Map {self.name!r} maps over {self._over!r}, which is a "
                f"{type(value).__name__}, not a list or another iterable"
            ) from None

    def execute(self, **kwargs: Any) -> list[Any]:
        """Map outside an engine: call the element task on each element in turn."""
        items = self.items_of(kwargs.pop(ITEMS_ARG))
        return [self.element.execute(**self.element_kwargs(item, kwargs)) for item in items]

    def element_kwargs(self, item: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments of one element's ``execute``."""
        kwargs = dict(inputs)
        kwargs.pop(ITEMS_ARG, None)
        kwargs[self.element_arg] = item
        return kwargs

    @functools.cached_property
    def is_async(self) -> bool:
        return self.element.is_async

    @functools.cached_property
    def revert_is_async(self) -> bool:
        return self.element.revert_is_async


class Reduce(Task):
    """Folds a list into one value: ``functools.reduce(fn, values[, initial])``.

    Args:
        fn: a function of two arguments, ``(accumulated, value)``.
        over: the name of the input list (typically a :class:`Map`'s ``provides``).
        provides: the name of the result.
        initial: the starting value; without it, the first element.
        name: the atom name (default: ``reduce-<function name>``).
    """

    def __init__(
        self,
        fn: Callable[[Any, Any], Any],
        *,
        over: str = "results",
        provides: Provides = None,
        initial: Any = _NO_INITIAL,
        name: str | None = None,
        version: str = "1.0",
    ) -> None:
        if not callable(fn):
            raise InvalidAtomError(f"Reduce needs a function of two arguments, not {fn!r}")
        self.fn = fn
        self.initial = initial
        super().__init__(
            name if name is not None else f"reduce-{getattr(fn, '__name__', 'fn')}",
            provides=provides,
            rebind={ITEMS_ARG: over},
            version=version,
        )

    def execute(self, _items: Iterable[Any]) -> Any:
        if self.initial is _NO_INITIAL:
            return functools.reduce(self.fn, _items)
        return functools.reduce(self.fn, _items, self.initial)


def is_map(atom: object) -> bool:
    """Whether the engine must expand ``atom`` into element jobs."""
    return isinstance(atom, Map)

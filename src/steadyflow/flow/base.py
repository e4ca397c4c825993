"""What every flow pattern shares: a name, children, an optional retry controller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Self

from steadyflow.atom import Atom
from steadyflow.errors import InvalidAtomError
from steadyflow.retry import Retry
from steadyflow.task import Task

if TYPE_CHECKING:
    from steadyflow.engine._plan import Plan

__all__ = ["Flow"]


def _describe_bad_item(item: object, flow: str) -> str:
    if isinstance(item, type) and issubclass(item, Atom):
        return (
            f"flow {flow!r}: got the class {item.__name__}, not an instance; "
            f"did you mean {item.__name__}()?"
        )
    if isinstance(item, type) and issubclass(item, Flow):
        return f"flow {flow!r}: got the flow class {item.__name__}, not a flow instance"
    if isinstance(item, Retry):
        return f"flow {flow!r}: a retry controller is attached with retry=, not added as a child"
    if callable(item):
        return (
            f"flow {flow!r}: {item!r} is a plain callable; wrap it with steadyflow.task() "
            f"to make it a task"
        )
    return f"flow {flow!r}: can only hold tasks and flows, not {type(item).__name__} {item!r}"


class Flow:
    """Base of :class:`Linear`, :class:`Unordered` and :class:`Graph`.

    Args:
        name: names the flow in errors, events and stored state.
        *items: tasks and flows, in the order the pattern gives meaning to.
        retry: the controller deciding what happens when something inside fails.
    """

    def __init__(self, name: str, *items: Atom | Flow, retry: Retry | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidAtomError(f"a flow's name must be a non-empty string, not {name!r}")
        if retry is not None and not isinstance(retry, Retry):
            raise InvalidAtomError(
                f"flow {name!r}: retry= takes a retry controller such as "
                f"steadyflow.retry.Times(3), not {retry!r}"
            )
        self.name = name
        if retry is not None and not retry.named:
            # Several flows may each hold a Times(3): name each after its flow.
            retry.name = f"{name}.retry"
        self.retry = retry
        self._children: list[Atom | Flow] = []
        self._revision = 0
        self._plan: Plan | None = None
        self._plan_revision: tuple[int, ...] = ()
        self.add(*items)

    def add(self, *items: Atom | Flow) -> Self:
        """Append tasks and flows; returns the flow so calls can be chained.

        Raises:
            InvalidAtomError: an item is not a task or flow instance.
        """
        for item in items:
            if isinstance(item, Flow):
                if item is self:
                    raise InvalidAtomError(f"flow {self.name!r} cannot contain itself")
            elif not isinstance(item, Task):
                raise InvalidAtomError(_describe_bad_item(item, self.name))
            self._children.append(item)
        self._changed()
        return self

    def _changed(self) -> None:
        self._revision += 1

    @property
    def children(self) -> tuple[Atom | Flow, ...]:
        """The direct children, in the order they were added."""
        return tuple(self._children)

    def __iter__(self) -> Iterator[Atom | Flow]:
        return iter(self._children)

    def __len__(self) -> int:
        return len(self._children)

    def iter_atoms(self) -> Iterator[Atom]:
        """Every atom in the tree below, the retry controllers included, depth first."""
        if self.retry is not None:
            yield self.retry
        for child in self._children:
            if isinstance(child, Flow):
                yield from child.iter_atoms()
            else:
                yield child

    def tree_revision(self) -> tuple[int, ...]:
        """Changes whenever this flow or any flow below it changes."""
        revisions = [self._revision]
        for child in self._children:
            if isinstance(child, Flow):
                revisions.extend(child.tree_revision())
        return tuple(revisions)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} ({len(self._children)} items)>"

    def _extra_repr(self) -> dict[str, Any]:
        return {}

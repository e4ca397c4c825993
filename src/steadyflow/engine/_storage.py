"""The engine's view of one flow's state: states, results, failures, history.

State lives in plain lists indexed by node, which is what keeps the engine's
own cost per atom small. Every change marks its node dirty; :meth:`flush`
hands the dirty nodes to a persister (when the flow is persisted) in one
batch, which the engine calls once per scheduling round, before any atom
that depends on those changes is started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from steadyflow.atom import ProvidesSpec
from steadyflow.engine._plan import Plan
from steadyflow.errors import NotFoundError, ResultSerializationError
from steadyflow.failure import Failure
from steadyflow.retry import Attempt, History
from steadyflow.states import (
    ATOM_TRANSITIONS,
    FLOW_TRANSITIONS,
    RETRY_TRANSITIONS,
    AtomState,
    FlowState,
    Intention,
    check_transition,
)

__all__ = ["Persister", "Storage"]

_A = AtomState


class Persister(Protocol):
    """Makes a batch of changes durable; implemented by the persistence layer."""

    def save(self, storage: Storage, dirty: Iterable[int], flow_changed: bool) -> None: ...

    def check(self, value: Any) -> None:
        """Raise ResultSerializationError unless ``value`` can be stored."""
        ...


class Storage:
    """The state of one run of one flow, readable while and after it runs.

    Read it through :meth:`fetch`, :meth:`fetch_all`, :meth:`get_state`,
    :meth:`get_result`, :meth:`get_failure` and friends. The engine is the
    only writer.
    """

    def __init__(
        self,
        plan: Plan,
        *,
        store: Mapping[str, Any] | None = None,
        flow_id: str = "",
        persister: Persister | None = None,
    ) -> None:
        count = len(plan.nodes)
        self.plan = plan
        self.flow_id = flow_id
        self._store: dict[str, Any] = dict(store or {})
        self.states: list[AtomState] = [_A.PENDING] * count
        self.intentions: list[Intention] = [Intention.EXECUTE] * count
        self.results: list[Any] = [None] * count
        self.failures: list[Failure | None] = [None] * count
        self.revert_results: list[Any] = [None] * count
        self.revert_failures: list[Failure | None] = [None] * count
        self.attempts: list[int] = [0] * count
        self.histories: dict[int, list[Attempt]] = {
            node.index: [] for node in plan.nodes if node.is_retry
        }
        self.meta: list[dict[str, Any] | None] = [None] * count
        self.flow_state = FlowState.PENDING
        self.flow_meta: dict[str, Any] = {}
        """The engine's own keys of the flow detail's meta (the recovery record), written
        with the next flow write; a None value removes its key from the stored meta."""
        self._transitions = [
            RETRY_TRANSITIONS if node.is_retry else ATOM_TRANSITIONS for node in plan.nodes
        ]
        self.persister = persister
        self.before_flow_write: Callable[[], None] | None = None
        """Called by a flush that writes the flow's own record, to bring its meta up to date."""
        self._dirty: set[int] = set()
        self._flow_dirty = False

    # -- reading (public) -----------------------------------------------------------

    @property
    def store(self) -> Mapping[str, Any]:
        """The values the run was given with ``store=`` (read-only)."""
        return MappingProxyType(self._store)

    def fetch(self, name: str) -> Any:
        """The value of ``name``: the latest successful provider's, else the store's.

        Raises:
            NotFoundError: no atom provided ``name`` and the store lacks it.
        """
        for index in reversed(self.plan.providers.get(name, ())):
            if self.states[index] is _A.SUCCESS:
                return self._provided(index, name)
        if name in self._store:
            return self._store[name]
        raise NotFoundError(f"no value named {name!r}: nothing provided it yet, nor the store")

    def fetch_all(self) -> dict[str, Any]:
        """Every provided name with its value (as :meth:`fetch` would return it)."""
        values: dict[str, Any] = {}
        for name, indices in self.plan.providers.items():
            for index in reversed(indices):
                if self.states[index] is _A.SUCCESS:
                    values[name] = self._provided(index, name)
                    break
        return values

    def _provided(self, index: int, name: str) -> Any:
        spec: ProvidesSpec = self.plan.nodes[index].atom.provides_spec
        key = spec.keys[spec.names.index(name)]
        return ProvidesSpec.extract(self.results[index], key)

    def _index(self, atom_name: str) -> int:
        try:
            return self.plan.by_name[atom_name]
        except KeyError:
            raise NotFoundError(f"flow {self.plan.flow_name!r} has no atom {atom_name!r}") from None

    def get_state(self, atom_name: str) -> AtomState:
        """The state of the atom called ``atom_name``."""
        return self.states[self._index(atom_name)]

    def get_result(self, atom_name: str) -> Any:
        """What the atom's ``execute`` returned (None until it succeeded)."""
        return self.results[self._index(atom_name)]

    def get_failure(self, atom_name: str) -> Failure | None:
        """The failure of the atom's last execution, if it failed."""
        return self.failures[self._index(atom_name)]

    def get_revert_result(self, atom_name: str) -> Any:
        """What the atom's ``revert`` returned."""
        return self.revert_results[self._index(atom_name)]

    def get_revert_failure(self, atom_name: str) -> Failure | None:
        """The failure of the atom's ``revert``, if it failed."""
        return self.revert_failures[self._index(atom_name)]

    def get_history(self, retry_name: str) -> History:
        """The attempts of the retry controller called ``retry_name``."""
        index = self._index(retry_name)
        if index not in self.histories:
            raise NotFoundError(f"atom {retry_name!r} is not a retry controller")
        return History(self.histories[index])

    def get_meta(self, atom_name: str) -> Mapping[str, Any]:
        """Metadata recorded about the atom (timings, progress, attempts)."""
        return MappingProxyType(self.meta[self._index(atom_name)] or {})

    def get_attempt(self, atom_name: str) -> int:
        """How many times the atom's execution was started (retries count)."""
        return self.attempts[self._index(atom_name)]

    def atom_states(self) -> dict[str, AtomState]:
        """Atom name -> state, for every atom of the flow."""
        return {node.name: self.states[node.index] for node in self.plan.nodes}

    def failures_by_name(self) -> dict[str, Failure]:
        """Atom name -> failure, for every atom whose last execution failed."""
        return {
            node.name: failure
            for node, failure in zip(self.plan.nodes, self.failures, strict=True)
            if failure is not None
        }

    # -- writing (engine only) --------------------------------------------------------

    def set_state(self, index: int, state: AtomState) -> AtomState:
        """Move a node to ``state`` along its transition table; returns the old state."""
        old = self.states[index]
        if state not in self._transitions[index][old]:
            check_transition(self._transitions[index], old, state, self.plan.nodes[index].name)
        self.states[index] = state
        self._dirty.add(index)
        return old

    def set_flow_state(self, state: FlowState) -> FlowState:
        """Move the flow to ``state`` along the flow table; returns the old state."""
        old = self.flow_state
        if old is not state:
            check_transition(FLOW_TRANSITIONS, old, state, f"flow {self.plan.flow_name!r}")
            self.flow_state = state
            self._flow_dirty = True
        return old

    def touch(self, index: int) -> None:
        """Mark a node changed (result, failure, intention, meta) without a state move."""
        self._dirty.add(index)

    def touch_flow(self) -> None:
        """Mark the flow's own record changed (its meta) without a state move."""
        self._flow_dirty = True

    def check_value(self, index: int, value: Any, what: str = "result") -> None:
        """Refuse a value the persister cannot store, before the engine acts on it.

        Raises:
            ResultSerializationError: names the atom; the engine fails the atom
                with it, so a value that could not be resumed is never announced.
        """
        if self.persister is None:
            return
        try:
            self.persister.check(value)
        except ResultSerializationError as exc:
            name = self.plan.nodes[index].name
            raise ResultSerializationError(
                f"the {what} of atom {name!r} cannot be persisted: {exc}"
            ) from exc

    def update_meta(self, index: int, **values: Any) -> None:
        """Merge ``values`` into a node's metadata."""
        meta = self.meta[index]
        if meta is None:
            meta = self.meta[index] = {}
        meta.update(values)
        self._dirty.add(index)

    def reset_node(self, index: int) -> None:
        """Forget a node's outcome so it runs again (a retry, or a reset engine)."""
        self.set_state(index, _A.PENDING)
        self.intentions[index] = Intention.EXECUTE
        self.results[index] = None
        self.failures[index] = None
        self.revert_results[index] = None
        self.revert_failures[index] = None

    def flush(self) -> None:
        """Make every change since the last flush durable (a no-op in memory)."""
        if self._flow_dirty and self.before_flow_write is not None:
            self.before_flow_write()
        if self.persister is not None and (self._dirty or self._flow_dirty):
            self.persister.save(self, sorted(self._dirty), self._flow_dirty)
        self._dirty.clear()
        self._flow_dirty = False

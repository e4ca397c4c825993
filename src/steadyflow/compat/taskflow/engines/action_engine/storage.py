"""TaskFlow's view of a run's state (``engine.storage``) over steadyflow's storage.

Before the engine is prepared, every atom reads as PENDING and ``inject``
adds to the values the run starts with; afterwards reads go to steadyflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import steadyflow as sf
from steadyflow.compat.taskflow import _internals, exceptions
from steadyflow.compat.taskflow.retry import History
from steadyflow.compat.taskflow.types.failure import Failure

if TYPE_CHECKING:
    from steadyflow.compat.taskflow.engines.action_engine.engine import ActionEngine

__all__ = ["Storage"]


class Storage:
    """Results, provided values and states of one engine's flow, as TaskFlow reads them."""

    injector_name = "_TaskFlow_INJECTOR"

    def __init__(self, engine: ActionEngine) -> None:
        self._engine = engine

    # -- naming --------------------------------------------------------------------

    @property
    def flow_name(self) -> str:
        """The flow's name."""
        return self._engine.flow.name

    @property
    def flow_uuid(self) -> str:
        """The run's uuid (steadyflow's flow id)."""
        return self._engine.flow_uuid

    @property
    def backend(self) -> Any:
        """The persistence backend, or None for an in-memory run."""
        return self._engine.backend

    # -- values --------------------------------------------------------------------

    def inject(self, pairs: Mapping[str, Any], transient: bool = False) -> None:
        """Add values every atom can read by name (before the engine is prepared)."""
        self._engine.add_store(pairs)

    def _native(self) -> sf.Storage | None:
        return self._engine.native_storage

    def get(self, atom_name: str) -> Any:
        """What atom ``atom_name`` returned (a retry controller: its history).

        Raises:
            NotFound: no such atom, or it has no result yet.
        """
        native = self._native()
        if native is None:
            raise exceptions.NotFound(f"Result for atom '{atom_name}' is not currently known")
        try:
            if self._engine.is_retry(atom_name):
                return list(History.of(native.get_history(atom_name)))
            failure = native.get_failure(atom_name)
            if failure is not None:
                return Failure.adopt(failure)
            return native.get_result(atom_name)
        except sf.errors.NotFoundError as exc:
            raise exceptions.NotFound(str(exc)) from exc

    def fetch(self, name: str, many_handler: Any = None) -> Any:
        """The value of ``name``: a list when several atoms provided it.

        Raises:
            NotFound: nothing provided ``name`` and the store lacks it.
        """
        values = self._provided().get(name)
        if values:
            if len(values) == 1:
                return values[0]
            return many_handler(values) if many_handler is not None else values[0]
        store = self._engine.store
        if name in store:
            return store[name]
        raise exceptions.NotFound(
            f"Name {name!r} is not mapped as a produced output by any providers"
        )

    def fetch_all(self, many_handler: Any = None) -> dict[str, Any]:
        """Every stored and provided name with its value."""
        values = dict(self._engine.store)
        for name, found in self._provided().items():
            if len(found) == 1:
                values[name] = found[0]
            else:
                values[name] = many_handler(found) if many_handler is not None else found
        return values

    def _provided(self) -> dict[str, list[Any]]:
        native = self._native()
        if native is None:
            return {}
        provided: dict[str, list[Any]] = {}
        states = native.atom_states()
        for atom in self._engine.atoms_in_fetch_order(states):
            spec = atom.provides_spec
            if not spec.names or states[atom.name] != "SUCCESS":
                continue
            result = native.get_result(atom.name)
            for name, key in zip(spec.names, spec.keys, strict=True):
                provided.setdefault(name, []).append(_internals.provided_value(result, key))
        return provided

    # -- states --------------------------------------------------------------------

    def get_flow_state(self) -> str:
        """The flow's state, as a TaskFlow state name."""
        native = self._native()
        if native is None:
            return "PENDING"
        return str(native.flow_state)

    def get_atom_state(self, atom_name: str) -> str:
        """An atom's state, as a TaskFlow state name.

        Raises:
            NotFound: the flow has no such atom.
        """
        native = self._native()
        if native is None:
            if not self._engine.has_atom(atom_name):
                raise exceptions.NotFound(f"Unknown atom name '{atom_name}'")
            return "PENDING"
        try:
            return str(native.get_state(atom_name))
        except sf.errors.NotFoundError as exc:
            raise exceptions.NotFound(str(exc)) from exc

    get_task_state = get_atom_state

    def get_revert_result(self, atom_name: str) -> Any:
        """What ``revert`` of ``atom_name`` returned."""
        native = self._native()
        return None if native is None else native.get_revert_result(atom_name)

    def get_execute_failures(self) -> dict[str, Failure]:
        """atom name -> Failure, for every atom whose execute failed."""
        native = self._native()
        if native is None:
            return {}
        return {name: Failure.adopt(f) for name, f in native.failures_by_name().items()}

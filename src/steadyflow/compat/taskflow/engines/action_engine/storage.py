"""TaskFlow's view of a run's state (``engine.storage``) over steadyflow's storage.

Before the engine is prepared, every atom reads as PENDING and ``inject``
adds to the values the run starts with; afterwards reads go to steadyflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import steadyflow as sf
from steadyflow.compat.taskflow import _internals, exceptions
from steadyflow.compat.taskflow.retry import History
from steadyflow.compat.taskflow.types.failure import Failure

if TYPE_CHECKING:
    from steadyflow.compat.taskflow.engines.action_engine.engine import ActionEngine

__all__ = ["Storage"]

_RESULT_READABLE = frozenset({"SUCCESS", "FAILURE", "REVERTING"})
_INTENTIONS = {
    "REVERTING": "REVERT",
    "REVERTED": "REVERT",
    "REVERT_FAILURE": "REVERT",
    "IGNORE": "IGNORE",
    "RETRYING": "RETRY",
}


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
        """What atom ``atom_name`` returned (its Failure if it failed; a retry: its history).

        As in TaskFlow, a result is readable while the atom is SUCCESS,
        FAILURE or REVERTING, and no longer once it was reverted.

        Raises:
            NotFound: no such atom, or no result readable in its state.
        """
        native = self._native()
        if native is None or not self._engine.has_atom(atom_name):
            raise exceptions.NotFound(f"Result for atom '{atom_name}' execution is not known")
        if self._engine.is_retry(atom_name):
            return list(History.of(native.get_history(atom_name)))
        state = str(native.get_state(atom_name))
        if state not in _RESULT_READABLE:
            raise exceptions.NotFound(
                f"Result for atom '{atom_name}' execution is not known (it is {state})"
            )
        failure = native.get_failure(atom_name)
        if failure is not None:
            return Failure.adopt(failure)
        return native.get_result(atom_name)

    get_execute_result = get

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
        store = self._store_values()
        if name in store:
            return store[name]
        raise exceptions.NotFound(
            f"Name {name!r} is not mapped as a produced output by any providers"
        )

    def fetch_all(self, many_handler: Any = None) -> dict[str, Any]:
        """Every stored and provided name with its value."""
        values = self._store_values()
        for name, found in self._provided().items():
            if len(found) == 1:
                values[name] = found[0]
            else:
                values[name] = many_handler(found) if many_handler is not None else found
        return values

    def _store_values(self) -> dict[str, Any]:
        """The run's store: what a resumed run's first run stored, plus what was given now."""
        native = self._native()
        if native is None:
            return dict(self._engine.store)
        return {**native.store, **self._engine.store}

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

    def get_atom_uuid(self, atom_name: str) -> str:
        """The uuid of atom ``atom_name``, as notifications show it.

        Raises:
            NotFound: the flow has no such atom.
        """
        if not self._engine.has_atom(atom_name):
            raise exceptions.NotFound(f"Unknown atom name '{atom_name}'")
        return self._engine.atom_uuid(atom_name)

    def get_atom_intention(self, atom_name: str) -> str:
        """What the engine means to do with the atom next: EXECUTE, REVERT, RETRY or IGNORE."""
        state = self.get_atom_state(atom_name)
        return _INTENTIONS.get(state, "EXECUTE")

    def get_atoms_states(self, atom_names: Iterable[str]) -> dict[str, tuple[str, str]]:
        """atom name -> (state, intention)."""
        return {
            name: (self.get_atom_state(name), self.get_atom_intention(name)) for name in atom_names
        }

    def get_task_progress(self, task_name: str) -> float:
        """How far the task got, 0.0 to 1.0 (1.0 once it finished)."""
        native = self._native()
        if native is None:
            return 0.0
        reported = native.get_meta(task_name).get("progress")
        if reported is not None:
            return float(reported)
        return 0.0 if str(native.get_state(task_name)) in ("PENDING", "RUNNING") else 1.0

    def get_revert_failures(self) -> dict[str, Failure]:
        """atom name -> Failure, for every atom whose revert failed."""
        native = self._native()
        if native is None:
            return {}
        failures: dict[str, Failure] = {}
        for name in native.atom_states():
            failure = native.get_revert_failure(name)
            if failure is not None:
                failures[name] = Failure.adopt(failure)
        return failures

    def has_failures(self) -> bool:
        """Whether any atom's execute or revert failed."""
        return bool(self.get_execute_failures() or self.get_revert_failures())

    def get_retry_history(self, retry_name: str) -> History:
        """The history of retry controller ``retry_name``."""
        native = self._native()
        if native is None:
            return History([])
        return History.of(native.get_history(retry_name))

    def fetch_mapped_args(
        self,
        args_mapping: Mapping[str, str],
        atom_name: str | None = None,
        scope_walker: Any = None,
        optional_args: Iterable[str] = (),
    ) -> dict[str, Any]:
        """argument -> the value of the name it is mapped to.

        Raises:
            NotFound: a (non-optional) name has no value.
        """
        optional = frozenset(optional_args)
        values: dict[str, Any] = {}
        for argument, name in args_mapping.items():
            try:
                values[argument] = self.fetch(name)
            except exceptions.NotFound:
                if argument in optional:
                    continue
                raise exceptions.NotFound(
                    f"Mapped argument {argument!r} <= {name!r} was not produced by any "
                    f"accessible provider"
                ) from None
        return values

    def get_execute_failures(self) -> dict[str, Failure]:
        """atom name -> Failure, for every atom whose execute failed."""
        native = self._native()
        if native is None:
            return {}
        return {name: Failure.adopt(f) for name, f in native.failures_by_name().items()}

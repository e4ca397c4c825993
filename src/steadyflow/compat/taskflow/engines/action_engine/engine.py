"""TaskFlow's ``SerialActionEngine`` and ``ParallelActionEngine`` over steadyflow's engine.

The steadyflow engine is built at :meth:`ActionEngine.compile` and runs the
flow as is: the layer's tasks, retry controllers and flows are steadyflow's.
What the layer adds is TaskFlow's surface: state names as strings, its
notifiers (fed by ``_events.py``), its exceptions, and TaskFlow's revert
scope (a retry controller that gives up reverts only its own flow).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import steadyflow as sf
from steadyflow.compat.taskflow import exceptions
from steadyflow.compat.taskflow.engines.action_engine._events import EventTranslator
from steadyflow.compat.taskflow.engines.action_engine._phases import taskflow_phases
from steadyflow.compat.taskflow.engines.action_engine._synchronous import (
    unlimited as synchronous_options,
)
from steadyflow.compat.taskflow.engines.action_engine.storage import Storage
from steadyflow.compat.taskflow.task import Task
from steadyflow.compat.taskflow.types.failure import Failure
from steadyflow.compat.taskflow.types.notifier import Notifier

__all__ = ["ActionEngine", "ParallelActionEngine", "SerialActionEngine"]

_MODULE = "taskflow.engines.action_engine.engine"


class ActionEngine:
    """Runs one flow on steadyflow's engine with TaskFlow's API.

    Args:
        flow: the flow to run.
        flow_detail: the stored flow detail this run records into (persisted runs).
        backend: a persistence backend from ``taskflow.persistence.backends``.
        options: engine options (``max_workers``, ``executor``).
    """

    kind = "serial"

    def __init__(
        self,
        flow: sf.Flow,
        flow_detail: Any = None,
        backend: Any = None,
        options: Mapping[str, Any] | None = None,
        *,
        store: Mapping[str, Any] | None = None,
        book: Any = None,
    ) -> None:
        if not isinstance(flow, sf.Flow):
            raise TypeError(f"an engine runs a flow, not {flow!r}")
        self.flow = flow
        self.flow_detail = flow_detail
        self.backend = backend
        self.book = book
        self.options = dict(options or {})
        self.flow_uuid = flow_detail.uuid if flow_detail is not None else str(uuid.uuid4())
        self.store: dict[str, Any] = dict(store or {})
        self.notifier = Notifier()
        self.atom_notifier = Notifier()
        self.storage = Storage(self)
        self._native: sf.Engine | None = None
        self._native_store: dict[str, Any] | None = None
        self._prepared = False
        self._started = False
        self._translator: EventTranslator | None = None
        self._atoms = {atom.name: atom for atom in flow.iter_atoms()}
        self._atom_uuids: dict[str, str] = {}

    # -- what storage and the translator ask ------------------------------------------------

    def add_store(self, pairs: Mapping[str, Any]) -> None:
        """Values every atom can read by name (``storage.fetch`` shows them at once).

        Before the first run they feed it; after it, a run after ``reset()``.

        Raises:
            DisallowedAccess: a persisted engine was prepared (its store is
                stored with the flow detail then).
        """
        if self._prepared and self.backend is not None:
            raise exceptions.DisallowedAccess(
                "a persisted engine takes injected values only before prepare()"
            )
        self.store.update(pairs)
        if self._started:
            return
        self._prepared = False  # the next prepare() starts from the new values

    @property
    def native_storage(self) -> sf.Storage | None:
        """steadyflow's storage, once prepared."""
        return self._native.storage if self._native is not None and self._prepared else None

    def atom_uuid(self, name: str) -> str:
        """The uuid TaskFlow shows for atom ``name`` (in notifications and storage), made once."""
        found = self._atom_uuids.get(name)
        if found is None:
            found = self._atom_uuids[name] = str(uuid.uuid4())
        return found

    def is_retry(self, name: str) -> bool:
        """Whether atom ``name`` is a retry controller."""
        return isinstance(self._atoms.get(name), sf.Retry)

    def has_atom(self, name: str) -> bool:
        """Whether the flow has an atom ``name``."""
        return name in self._atoms

    def atoms_in_fetch_order(self, planned: Mapping[str, Any]) -> list[Any]:
        """The ``planned`` atoms, tasks then retry controllers: TaskFlow's order of values."""
        atoms = [self._atoms[name] for name in planned if name in self._atoms]
        return [a for a in atoms if not isinstance(a, sf.Retry)] + [
            a for a in atoms if isinstance(a, sf.Retry)
        ]

    # -- lifecycle ---------------------------------------------------------------------------

    def compile(self) -> None:
        """Compile the flow (once); raises TaskFlow's errors for a malformed flow."""
        if self._native is not None and self._native_store == self.store:
            return
        native = sf.Engine(
            self.flow,
            store=self.store,
            engine="parallel",
            revert="scope",
            flow_id=self.flow_uuid,
            **self._executor_options(),
            **self._persistence_options(),
        )
        with _translated_errors():
            native.compile()
        self._native, self._native_store = native, dict(self.store)

    def _executor_options(self) -> dict[str, Any]:
        # Both engines are steadyflow's thread-pool engine: the serial one with an
        # executor that runs each atom in the caller's thread (see _synchronous.py).
        return {
            "max_workers": self.options.get("max_workers"),
            "executor": _executor(self.options.get("executor")),
        }

    def _persistence_options(self) -> dict[str, Any]:
        if self.backend is None:
            return {}
        from steadyflow.compat.taskflow.persistence._bridge import engine_options

        return engine_options(self)

    def prepare(self) -> None:
        """Create the run's storage."""
        self.compile()
        assert self._native is not None
        with _translated_errors():
            self._native.prepare()
        self._prepared = True

    def validate(self) -> None:
        """Check that every input can be found.

        Raises:
            MissingDependencies: an input has no provider and no stored value.
        """
        self.prepare()
        assert self._native is not None
        with _translated_errors():
            self._native.validate()

    def run(self, timeout: float | None = None) -> None:
        """Run the flow to its end.

        Raises:
            Exception: the failing task's exception, once its scope was reverted.
            WrappedFailure: several tasks failed at once.
        """
        for _ in self.run_iter(timeout=timeout):
            pass

    def run_iter(self, timeout: float | None = None) -> Iterator[str]:
        """Run the flow, yielding the engine's state names as TaskFlow does."""
        self.validate()
        native = self._native
        assert native is not None
        self._started = True
        self._watch(native)
        if self.backend is not None:
            from steadyflow.compat.taskflow.persistence._bridge import wait_for_lease

            wait_for_lease(native, self.backend)
        try:
            with _translated_errors():
                yield from taskflow_phases(native, timeout)
        finally:
            if self.backend is not None and self.flow_detail is not None:
                from steadyflow.compat.taskflow.persistence._bridge import refresh

                refresh(self)

    def _watch(self, native: sf.Engine) -> None:
        for atom in self._atoms.values():
            if isinstance(atom, Task) and atom.notifier.watching:
                atom.report_progress_around_execute()
        # Nobody listening: steadyflow then builds no events at all. Listeners registered
        # later (between runs) are picked up by the next run.
        translator = self._listening()
        if translator is not None and not native.notifier.is_registered(sf.events.ANY, translator):
            native.notifier.register(sf.events.ANY, translator)

    def _listening(self) -> EventTranslator | None:
        """The translator feeding TaskFlow's notifiers, made once somebody listens."""
        if self._translator is None and (self.notifier.watching or self.atom_notifier.watching):
            self._translator = EventTranslator(self)
        return self._translator

    def suspend(self) -> None:
        """Stop scheduling new atoms; the run ends SUSPENDED once those running finish."""
        if self._native is not None:
            self._native.suspend()

    def reset(self) -> None:
        """Put every atom back to PENDING so that :meth:`run` starts again.

        Listeners hear each atom, then the flow, go back to PENDING, as in TaskFlow.
        """
        storage = self.native_storage
        if self._native is None or storage is None:
            return
        atoms = {name: str(state) for name, state in storage.atom_states().items()}
        flow_state = str(storage.flow_state)
        self._native.reset()
        translator = self._listening()
        if translator is not None:
            translator.tell_reset(atoms, flow_state)

    @property
    def statistics(self) -> dict[str, Any]:
        """Counts and timings of the runs so far."""
        if self._native is None:
            return {}
        stats = self._native.statistics()
        return {
            "active_for": stats.elapsed,
            "atoms": stats.atoms,
            "retries": stats.retries,
            "states": dict(stats.states),
        }

    @property
    def compilation(self) -> Any:
        """The compiled plan (steadyflow's)."""
        self.compile()
        assert self._native is not None
        return self._native.compile()


class SerialActionEngine(ActionEngine):
    """Runs one atom at a time, in the calling thread."""

    kind = "serial"

    def _executor_options(self) -> dict[str, Any]:
        return synchronous_options()


class ParallelActionEngine(ActionEngine):
    """Runs independent atoms at once on threads (``max_workers=`` or ``executor=``)."""

    kind = "parallel"


for _cls in (ActionEngine, SerialActionEngine, ParallelActionEngine):
    _cls.__module__ = _MODULE


_THREADED = frozenset({"thread", "threads", "threaded", "greenthread", "greenthreaded"})


def _executor(executor: Any) -> Any:
    """A caller's ``executor=``: a futures executor, or a name TaskFlow accepts.

    Raises:
        NotImplementedError: ``"processes"``: the layer runs tasks on threads only.
    """
    if executor is None or not isinstance(executor, str):
        return executor
    if executor.lower() in _THREADED:
        return None
    raise exceptions.NotImplementedError(
        f"executor {executor!r}: the TaskFlow layer runs tasks on threads only "
        f"(use 'threaded' or a concurrent.futures executor)"
    )


class _translated_errors:
    """Turns steadyflow's errors into the TaskFlow exceptions programs catch."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        translated = None if exc is None else _translate(exc)
        if translated is not None:
            raise translated from exc


def _translate(exc: BaseException) -> BaseException | None:
    errors = sf.errors
    if isinstance(exc, errors.RevertFailedError):
        # TaskFlow raises what the reverts raised; the original failure stays in storage.
        failures = [Failure.adopt(f) for f in exc.revert_failures.values()]
        if len(failures) == 1:
            return failures[0].to_exception()
        return exceptions.WrappedFailure(failures)
    if isinstance(exc, errors.FailureGroup):
        return exceptions.WrappedFailure(
            [Failure.from_exception(inner) for inner in exc.exceptions]
        )
    if isinstance(exc, errors.MissingRequirementError):
        return exceptions.MissingDependencies(str(exc))
    if isinstance(exc, errors.AmbiguousProviderError):
        return exceptions.AmbiguousDependency(str(exc))
    if isinstance(exc, errors.CycleError):
        return exceptions.DependencyFailure(str(exc))
    if isinstance(exc, errors.DuplicateNameError):
        return exceptions.Duplicate(str(exc))
    return None

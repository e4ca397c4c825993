"""The engine: runs one flow, serially or in parallel, and owns its state.

An engine goes through ``compile()`` (flow -> plan, cached on the flow),
``prepare()`` (the storage for this run), ``validate()`` (every input can be
found) and ``run()``; each step runs the ones before it when needed, so
calling ``run()`` alone is enough.

What ``run()`` does depends on where the previous run ended:

- never run, or SUSPENDED: runs (or continues) the flow;
- SUCCESS: does nothing and returns at once (the results stay readable);
- REVERTED or FAILURE: raises :class:`~steadyflow.errors.EngineStateError`;
  call :meth:`Engine.reset` first to run the flow again from the start.

With ``backend=``, every ``run()`` first takes the flow's lease, then loads
the flow's latest stored state (or creates its flow detail), and writes
every scheduling round through ``engine/_persist.py``, fenced by the lease's
epoch, before the atoms it scheduled start; the same rules then apply to the
*stored* state, which is what makes a run resumable by another process (see
docs/persistence.md). A run whose lease is lost stops and raises
:class:`~steadyflow.errors.LeaseLostError`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Self

from steadyflow.engine._arguments import Dynamic, prepare_arguments
from steadyflow.engine._clock import Clock
from steadyflow.engine._compiler import compile_flow
from steadyflow.engine._executor import Executor, InlineExecutor
from steadyflow.engine._machine import Machine
from steadyflow.engine._plan import Plan
from steadyflow.engine._remote import REMOTE_KINDS, RemoteOptions
from steadyflow.engine._storage import Storage
from steadyflow.errors import EngineStateError, InvalidAtomError, LeaseLostError
from steadyflow.flow.base import Flow
from steadyflow.notifier import Notifier
from steadyflow.states import ENGINE_TRANSITIONS, EngineState, FlowState, check_transition

if TYPE_CHECKING:
    import random
    from concurrent.futures import Executor as FuturesExecutor

    # Imported when a backend is given: an in-memory run never loads the persistence layer.
    from steadyflow.engine._persist import FlowRecord
    from steadyflow.engine._revoke import RevokeRequest
    from steadyflow.engine.options import Durability, EngineKind, RevertMode, VersionPolicy
    from steadyflow.persistence.base import Backend

__all__ = ["ENGINE_KINDS", "Engine", "Statistics"]

ENGINE_KINDS = ("serial", "parallel", "asyncio", "workers", "celery", "dask")


class Statistics(NamedTuple):
    """What :meth:`Engine.statistics` reports about an engine's runs so far."""

    flow_state: FlowState
    atoms: int
    """Atoms in the plan."""
    states: Mapping[str, int]
    """Atom state -> how many atoms are in it."""
    elapsed: float
    """Seconds spent in :meth:`Engine.run` (every run of this engine, summed)."""
    retries: int
    """How many times a retry controller ran its flow again."""


def _new_flow_id() -> str:
    import uuid

    return str(uuid.uuid4())


def _check_flow_id(flow_id: object) -> str:
    from steadyflow.engine._persist import check_flow_id

    return check_flow_id(flow_id)


class Engine:
    """Runs one flow; read its results through :attr:`storage`.

    Args:
        flow: the flow to run.
        store: values available to every atom by name.
        engine: ``"serial"`` (one atom at a time, in this thread),
            ``"parallel"`` (independent atoms at once, on threads) or
            ``"asyncio"`` (independent atoms at once on an event loop;
            synchronous tasks on threads) or ``"workers"`` (each task on a
            remote worker, through ``broker``; see docs/workers.md), ``"celery"``
            (each task on the Celery fleet of ``celery_app``) or ``"dask"`` (each
            task a future on the Dask cluster of ``client``).
        max_workers: threads for the parallel engine (and for synchronous
            tasks of an asyncio run).
        executor: a ``concurrent.futures.Executor`` for those threads instead.
        max_concurrency: how many atoms an asyncio run keeps in flight at once
            (a workers run: how many requests, default 64).
        revert: what a failure nobody retries undoes: ``"flow"`` (everything
            that completed, the default) or ``"scope"`` (when a retry
            controller gives up, only its flow is reverted; the run ends
            REVERTED and atoms outside that flow keep their results).
        flow_id: identifies this run in events and idempotency keys; with a
            ``backend``, the flow detail to resume (a new id creates it).
        clock: the engine's time source (tests pass a fake one).
        seed: seeds the random jitter of retry backoff.
        backend: persist the run there (a URL or a
            :class:`~steadyflow.persistence.Backend`); see docs/persistence.md.
        durability: ``"sync"`` (every completion durable before dependents
            start) or ``"batched"`` (grouped commits; the end is still durable).
        factory: ``"module:function"`` (or such a function) that rebuilds the
            flow, saved so :func:`~steadyflow.load_from_backend` can resume it.
        factory_args: positional arguments for ``factory`` (JSON-able).
        factory_kwargs: keyword arguments for ``factory`` (JSON-able).
        on_version_change: ``"error"`` (default) refuses to resume an atom whose
            ``version`` changed; ``"accept"`` resumes it anyway.
        book: the logbook uuid a new flow detail is filed under.
        lease_ttl: seconds a persisted run's lease lasts without renewal
            (default 30; renewed every third of it): how long a runner that
            died, froze or lost its network blocks the flow.
        lease_epoch: take the flow's lease with exactly this epoch, an external
            fencing token (a job claim's epoch, see :mod:`steadyflow.conductors`),
            even from a live holder, provided it is larger than the stored
            one; the lease is then renewed as usual. One run per engine: a
            second run would need a larger epoch.
        broker: the workers engine's broker URL (``amqp://...``, ``redis://...``).
        topic: which workers the workers engine sends tasks to.
        celery_app: the celery engine's ``celery.Celery`` app (its workers ran
            :func:`steadyflow.celery.install`).
        client: the dask engine's ``distributed.Client``, or a scheduler address.

    Raises:
        ValueError: an unknown engine kind, an invalid ``flow_id``.
        TypeError: ``backend`` is neither a URL nor a Backend.
    """

    def __init__(
        self,
        flow: Flow,
        *,
        store: Mapping[str, Any] | None = None,
        engine: EngineKind = "serial",
        max_workers: int | None = None,
        executor: FuturesExecutor | None = None,
        max_concurrency: int | None = None,
        revert: RevertMode = "flow",
        flow_id: str | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        backend: str | Backend | None = None,
        durability: Durability = "sync",
        factory: str | Callable[..., Flow] | None = None,
        factory_args: Sequence[Any] = (),
        factory_kwargs: Mapping[str, Any] | None = None,
        on_version_change: VersionPolicy = "error",
        book: str | None = None,
        lease_ttl: float | None = None,
        lease_epoch: int | None = None,
        broker: str | None = None,
        topic: str | None = None,
        celery_app: Any = None,
        client: Any = None,
    ) -> None:
        if not isinstance(flow, Flow):
            raise InvalidAtomError(
                f"an engine runs a flow (Linear, Unordered or Graph), not {flow!r}; "
                f"wrap a single task in a Linear flow"
            )
        if engine not in ENGINE_KINDS:
            raise ValueError(f"unknown engine {engine!r}; choose one of {list(ENGINE_KINDS)}")
        self._remote = RemoteOptions(broker, topic, celery_app, client)
        self._remote.check(engine)
        if store is not None and not isinstance(store, Mapping):
            raise TypeError(f"store must be a mapping of names to values, not {store!r}")
        self.flow = flow
        self.kind = engine
        self.flow_id = _new_flow_id() if flow_id is None else _check_flow_id(flow_id)
        self.notifier = Notifier()
        self._store = dict(store or {})
        self._max_workers = max_workers
        self._futures_executor = executor
        self._max_concurrency = max_concurrency
        if revert not in ("flow", "scope"):
            raise ValueError(f"revert must be 'flow' or 'scope', not {revert!r}")
        self._revert = revert
        self._run_seconds = 0.0
        self._retries = 0
        self._clock = clock or Clock()
        self._seed = seed
        self._rng: random.Random | None = None
        self._plan: Plan | None = None
        self._storage: Storage | None = None
        self._arguments: tuple[list[dict[str, Any]], list[Dynamic]] | None = None
        self._machine: Machine | None = None
        self._state = EngineState.UNDEFINED
        self._suspend = threading.Event()
        self._revoke: RevokeRequest | None = None
        self._waker: Callable[[], None] | None = None
        self._record: FlowRecord | None = None
        self._reset_pending = False
        if backend is not None:
            from steadyflow.engine._factory import FactorySpec
            from steadyflow.engine._persist import FlowRecord, resolve_backend

            spec = None
            if factory is not None:
                spec = FactorySpec.of(factory, factory_args, factory_kwargs)
            opened, owns = resolve_backend(backend)
            try:
                self._record = FlowRecord(
                    opened,
                    owns_backend=owns,
                    flow_id=self.flow_id,
                    book=book,
                    durability=durability,
                    factory=spec,
                    on_version_change=on_version_change,
                    lease_ttl=lease_ttl,
                    lease_epoch=lease_epoch,
                )
            except BaseException:
                if owns:
                    opened.close()
                raise
        elif lease_epoch is not None:
            raise ValueError("lease_epoch= fences a persisted run: pass backend= too")

    # -- lifecycle steps -------------------------------------------------------------------

    def compile(self) -> Plan:
        """Compile the flow into a plan (cached on the flow until it changes)."""
        if self._plan is None:
            self._plan = compile_flow(self.flow)
        return self._plan

    def prepare(self) -> None:
        """Create the storage this run records its state in."""
        plan = self.compile()
        if self._storage is None:
            if self._record is not None:
                self._storage = self._record.open(plan, self._store)
            else:
                self._storage = Storage(plan, store=self._store, flow_id=self.flow_id)

    def validate(self) -> None:
        """Check that every atom's inputs can be found; nothing runs.

        Raises:
            MissingRequirementError: an input has no provider and no store value.
            AmbiguousProviderError: an input has several providers, none nearest.
        """
        self.prepare()
        if self._arguments is None:
            self._arguments = prepare_arguments(self.compile(), self.storage.store)

    # -- running ------------------------------------------------------------------------------

    def run(self, timeout: float | None = None) -> None:
        """Run the flow to its end (see the module docstring for reruns).

        Args:
            timeout: seconds the run may take; past them, atoms in flight are
                given up on (asynchronous ones cancelled), everything that
                completed is reverted, and RunTimeoutError is raised.

        Raises:
            Exception: the original exception of the atom that failed, after
                everything that completed was reverted (a
                :class:`~steadyflow.errors.FailureGroup` when several failed).
            RevertFailedError: reverting after a failure failed too.
            RunTimeoutError: the run outlived ``timeout``.
        """
        if self.kind == "asyncio":
            self._run_on_private_loop(timeout)
            return
        for _ in self.run_iter(timeout=timeout):
            pass

    def _run_on_private_loop(self, timeout: float | None) -> None:
        from steadyflow.engine._asyncio import LoopThread

        loop = LoopThread()
        try:
            loop.submit(self._drain_async(timeout)).result()
        finally:
            loop.close()

    async def _drain_async(self, timeout: float | None) -> Any:  # noqa: ASYNC109
        async for _ in self.run_iter_async(timeout=timeout):
            pass

    def run_iter(self, timeout: float | None = None) -> Iterator[EngineState]:
        """Run the flow, yielding each engine phase as it is entered."""
        machine = self._begin(self._new_executor(), timeout)
        executor = machine.executor
        began = time.perf_counter()
        try:
            for state in machine.states():
                self._enter(state)
                yield state
                if state is EngineState.WAITING:
                    self._wait(machine, executor)
        except (KeyboardInterrupt, SystemExit, LeaseLostError):
            # Ctrl-C, or another runner owning the flow now: stop at once; running threads
            # are abandoned, as on a timeout (they are daemons), instead of being waited for.
            executor.abandon()
            raise
        finally:
            executor.close()
            self._end(machine, began)
        self._finish(machine)

    async def run_async(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - reverts on expiry, unlike asyncio.timeout
        """Run the flow from a coroutine, without blocking the running event loop.

        ``async def`` tasks run as tasks of the running loop; synchronous
        tasks run on a thread pool. With the serial engine, one atom runs at
        a time; with the others, independent atoms run at once.
        """
        async for _ in self.run_iter_async(timeout=timeout):
            pass

    async def run_iter_async(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - reverts on expiry
    ) -> AsyncIterator[EngineState]:
        """Like :meth:`run_iter`, waiting for completions without blocking the loop."""
        from steadyflow.engine._asyncio import AsyncioExecutor

        executor: Executor
        if self.kind in REMOTE_KINDS:
            executor = self._new_executor()  # waits for replies on a thread, off the loop
        else:
            executor = AsyncioExecutor(
                max_workers=self._max_workers,
                executor=self._futures_executor,
                max_concurrency=1 if self.kind == "serial" else self._max_concurrency,
            )
        machine = self._begin(executor, timeout)
        began = time.perf_counter()
        try:
            for state in machine.states():
                self._enter(state)
                yield state
                if state is EngineState.WAITING:
                    wait = machine.wait_timeout()
                    if executor.in_flight:
                        await executor.wait_async(wait)
                    elif (
                        wait
                        and type(self._clock) is Clock
                        and isinstance(executor, AsyncioExecutor)
                    ):
                        # Only backoff timers are pending: a suspend() ends the wait early.
                        self._waker = executor.wake
                        await executor.nap(wait)
                    elif wait:
                        await self._clock.sleep_async(wait)
        except LeaseLostError:
            executor.abandon()  # another runner owns the flow now: drop what runs here
            raise
        finally:
            self._waker = None
            executor.close()
            self._end(machine, began)
        self._finish(machine)

    def suspend(self) -> None:
        """Ask the run to stop starting atoms; it ends SUSPENDED once running ones finish.

        Safe to call from any thread or from a listener. A later :meth:`run`
        continues where the run stopped.
        """
        self._suspend.set()
        machine = self._machine
        if machine is not None:
            machine.suspend_requested = True
        waker = self._waker
        if waker is not None:
            waker()

    def revoke(
        self,
        reason: str | None = None,
        *,
        wait: bool = False,
        raise_error: bool = True,
        requested_by: str | None = None,
    ) -> None:
        """Stop the run and undo the flow: it ends REVERTED (docs/engine.md, "Revoke").

        Safe from any thread, a listener or a task; the loop acts on it at its
        next round. No atom starts any more; running ones are given up on as on
        a run timeout (or, with ``wait``, finish first); everything that
        completed is reverted in reverse order, and no retry controller is
        asked. Called between runs, it applies to the next :meth:`run` (which
        then reverts even a flow that ended SUCCESS). A persisted run keeps the
        revoke in its recovery record: a resumed run goes on reverting.

        Args:
            reason: why, for the error and the record.
            wait: let running atoms finish instead of giving up on them.
            raise_error: :meth:`run` raises :class:`~steadyflow.errors.FlowRevokedError`
                once the flow is reverted; with False it returns normally.
            requested_by: who asks (default: this host and process).

        Raises:
            TypeError: ``reason`` or ``requested_by`` is not a string.
        """
        from steadyflow.engine._revoke import RevokeRequest, check_request, default_requester

        check_request(reason, requested_by)
        request = RevokeRequest(reason, requested_by or default_requester(), wait, raise_error)
        self._revoke = request
        machine = self._machine
        if machine is not None:
            machine.revoke = request
            machine.executor.wake()
        # Ends a wait for backoff timers alone (the asyncio driver's, or the threads').
        self._suspend.set()
        waker = self._waker
        if waker is not None:
            waker()

    def _drop_lease(self, why: str) -> None:
        """Stop the run at once as if its lease were lost (safe from any thread).

        For a conductor whose job claim was taken over: the new owner's epoch
        fences this run's writes anyway, so the run stops at its next round,
        gives up on the atoms in flight (as a lost lease does) and raises
        :class:`~steadyflow.errors.LeaseLostError`; the lease is not released.
        """
        if self._record is not None:
            self._record.drop_lease(why)

    def _on_stored_request(self, request: RevokeRequest) -> None:
        """A stored revoke request was found (maybe on the watcher's thread): obey it."""
        if self._revoke is None:
            self.revoke(request.reason, requested_by=request.requested_by)

    @property
    def revoke_requested(self) -> bool:
        """Whether a revoke was asked for and the run it applies to has not ended yet."""
        return self._revoke is not None

    def _wake(self, _error: BaseException) -> None:
        """End a wait for backoff timers early: the lease is gone (called from another thread)."""
        self._suspend.set()
        waker = self._waker
        if waker is not None:
            waker()

    def reset(self) -> None:
        """Forget every atom's outcome so that the next :meth:`run` starts afresh."""
        if self._machine is not None:
            raise EngineStateError("cannot reset an engine while it runs")
        if self._record is not None:
            # Written by the next run, once it holds the lease and has loaded the flow.
            self._reset_pending = True
            self._storage = self._record.reset(self.storage)
        else:
            self._storage = None
        self._arguments = None
        self._state = EngineState.UNDEFINED

    def close(self) -> None:
        """Release the runner lock and the backend this engine opened from a URL.

        Idempotent; an engine without a backend has nothing to close.
        """
        if self._machine is not None:
            raise EngineStateError("cannot close an engine while it runs")
        if self._record is not None:
            self._record.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------------

    @property
    def persisted(self) -> bool:
        """Whether this engine keeps its state in a backend."""
        return self._record is not None

    @property
    def resumed(self) -> bool:
        """Whether the storage was loaded from an existing flow detail."""
        self.prepare()
        return self._record is not None and self._record.resumed

    @property
    def state(self) -> EngineState:
        """The phase the engine is in (or ended in)."""
        return self._state

    @property
    def storage(self) -> Storage:
        """The state of the run: results, atom states, failures, history."""
        self.prepare()
        assert self._storage is not None
        return self._storage

    def statistics(self) -> Statistics:
        """Atom counts per state, time spent running, retries: an immutable record."""
        counts: dict[str, int] = {}
        for state in self.storage.states:
            counts[state.value] = counts.get(state.value, 0) + 1
        machine = self._machine
        retries = self._retries + (machine.retries if machine is not None else 0)
        return Statistics(
            flow_state=self.storage.flow_state,
            atoms=len(self.storage.states),
            states=MappingProxyType(counts),
            elapsed=self._run_seconds,
            retries=retries,
        )

    # -- internals --------------------------------------------------------------------------------

    def _begin(self, executor: Executor, timeout: float | None) -> Machine:
        if self._machine is not None:
            executor.close()
            raise EngineStateError("this engine is already running")
        try:
            if self._record is not None:
                self._load_under_lease(self._record)
                self._record.watch_revoke(self._on_stored_request)
            self.validate()
        except BaseException:
            executor.close()
            if self._record is not None:
                self._record.release()
            raise
        storage = self.storage
        ended = storage.flow_state is FlowState.REVERTED or (
            storage.flow_state is FlowState.FAILURE and self._revoke is None
        )
        if ended:
            executor.close()
            if self._record is not None:
                self._record.release()
            raise EngineStateError(self._ended_message(storage.flow_state))
        assert self._arguments is not None
        self._suspend.clear()
        machine = Machine(
            self.compile(),
            storage,
            executor,
            self.notifier,
            self._arguments,
            clock=self._clock,
            rng=self._random(),
        )
        machine.scoped_revert = self._revert == "scope"
        if timeout is not None:
            if not timeout > 0:
                executor.close()
                if self._record is not None:
                    self._record.release()
                raise ValueError(f"timeout must be a positive number of seconds, not {timeout}")
            machine.deadline = self._clock.monotonic() + timeout
            machine.time_limit = timeout
        if self._record is not None:
            machine.lease_check = self._record.check_lease
            machine.poll = min(1.0, self._record.lease_ttl / 6)
            self._record.on_lease_lost = self._wake
        self._machine = machine
        machine.revoke = self._revoke
        if storage.flow_state is FlowState.SUCCESS and self._revoke is None:
            machine.outcome = EngineState.SUCCESS
        return machine

    def _load_under_lease(self, record: FlowRecord) -> None:
        """Take the lease, then read the flow's latest stored state: never the other way round.

        State read before the lease was taken (by :meth:`prepare`, or by an
        earlier run) may be stale: another runner may have moved the flow on.
        """
        record.acquire()
        storage = record.open(self.compile(), self._store)
        # A runner paused past its lease while loading must not act on what it
        # read (not even report a stored end): someone may have moved the flow on.
        record.check_lease()
        if self._reset_pending:
            storage = record.reset(storage)
            self._reset_pending = False
        self._storage = storage
        self._arguments = None

    def _ended_message(self, state: FlowState) -> str:
        ended = f"flow {self.flow.name!r} already ended {state.value}"
        if self._record is None:
            return f"{ended}; call engine.reset() to run it again from the start"
        # sf.run() gives the caller no engine to reset: say how to start over either way.
        return (
            f"{ended} (stored as flow detail {self.flow_id}); to start over, run it under "
            f"a new flow_id (sf.run(flow, backend=..., flow_id=None) makes one), or rerun "
            f"this one from the start with engine = sf.load(flow, backend=..., "
            f"flow_id={self.flow_id!r}); engine.reset(); engine.run()"
        )

    def _own_backend(self) -> None:
        """Make :meth:`close` close the backend too (one opened on the engine's behalf)."""
        if self._record is not None:
            self._record.owns_backend = True

    def _after_run(self, revoked: bool) -> None:
        record = self._record
        if record is None:
            return
        try:
            if record.holds_lease:
                record.commit(self.storage)
                if revoked:
                    record.revoke_done()
        finally:
            record.release()

    def _new_executor(self) -> Executor:
        if self.kind in REMOTE_KINDS:
            return self._workers_executor()
        # run_iter() of an asyncio engine: threads, with async tasks on a private loop.
        if self.kind in ("parallel", "asyncio"):
            from steadyflow.engine._threads import ThreadExecutor

            return ThreadExecutor(max_workers=self._max_workers, executor=self._futures_executor)
        return InlineExecutor()

    def _workers_executor(self) -> Executor:
        record = self._record
        epoch = None if record is None else (lambda: record.epoch)
        return self._remote.executor(self.kind, capacity=self._max_concurrency or 64, epoch=epoch)

    def _enter(self, state: EngineState) -> None:
        if state is not self._state:
            check_transition(ENGINE_TRANSITIONS, self._state, state, "engine")
        self._state = state

    def _wait(self, machine: Machine, executor: Executor) -> None:
        timeout = machine.wait_timeout()
        if executor.in_flight:
            executor.wait(timeout)
        elif timeout and type(self._clock) is Clock:
            # Only backoff timers are pending: a suspend() ends the wait early.
            self._suspend.wait(timeout)
        elif timeout:
            self._clock.sleep(timeout)

    def _random(self) -> random.Random:
        # Created on first run: the random module is not worth loading at import time.
        if self._rng is None:
            import random

            self._rng = random.Random(self._seed)
        return self._rng

    def _end(self, machine: Machine, began: float) -> None:
        self._machine = None
        self._run_seconds += time.perf_counter() - began
        self._retries += machine.retries
        if machine.outcome is None:
            # Interrupted (KeyboardInterrupt in a task, an abandoned run_iter()):
            # the stored state is what a crash would leave, and the next run resumes it.
            self._state = EngineState.UNDEFINED
        revoked = machine.revoking and machine.outcome is not None
        if revoked:
            self._revoke = None
        self._after_run(revoked)

    def _finish(self, machine: Machine) -> None:
        if machine.error is not None:
            raise machine.error

    def __repr__(self) -> str:
        return f"<Engine {self.kind} flow={self.flow.name!r} state={self._state.value}>"

"""The engine loop: schedule what is ready, record completions, revert on failure.

The loop never polls and never sleeps on its own: it is a generator that
yields an :class:`EngineState` at each phase, and whoever drives it (the sync
``run`` or the async ``run_async``) waits for completions when it yields
WAITING. Readiness is a per-node count of unfinished predecessors, so each
completion costs O(successors), and a chain of n atoms costs O(n).

Reverting uses the same idea backwards: a node is reverted once every
successor that needs reverting has been reverted. A revert that fails blocks
its predecessors (they may depend on it being undone first) but not
independent branches. What a failure leads to (retry a scope, revert it,
revert everything) is decided in :mod:`steadyflow.engine._retrying`.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from steadyflow.atom import ProvidesSpec
from steadyflow.context import AtomContext
from steadyflow.engine._arguments import Dynamic
from steadyflow.engine._clock import Clock
from steadyflow.engine._deciding import Deciders
from steadyflow.engine._executor import Completion, Executor, Job
from steadyflow.engine._mapping import MapRunner
from steadyflow.engine._plan import Plan
from steadyflow.engine._recovery import REVERT_ALL, Recovery
from steadyflow.engine._retrying import RetryHandler
from steadyflow.engine._revoking import obey_revoke
from steadyflow.engine._run_events import RunEvents
from steadyflow.errors import (
    EngineStateError,
    FailureGroup,
    ResultSerializationError,
    RevertFailedError,
)
from steadyflow.events import Event
from steadyflow.failure import Failure
from steadyflow.mapreduce import is_map
from steadyflow.retry import Attempt, History, Retry
from steadyflow.states import AtomState, EngineState, FlowState, Intention
from steadyflow.task import Task

if TYPE_CHECKING:
    import random

    from steadyflow.engine._revoke import RevokeRequest
    from steadyflow.engine._storage import Storage
    from steadyflow.notifier import Notifier

__all__ = ["Machine"]

_A = AtomState
_FINISHED = frozenset({_A.SUCCESS, _A.IGNORE})
_NEEDS_REVERT = frozenset({_A.SUCCESS, _A.FAILURE, _A.REVERTING, _A.RUNNING})
_REVOKE_REVERTS = _NEEDS_REVERT | {_A.REVERT_FAILURE}


class Machine(RunEvents):
    """One run (or resumed run) of a plan over a storage, through an executor."""

    def __init__(
        self,
        plan: Plan,
        storage: Storage,
        executor: Executor,
        notifier: Notifier,
        arguments: tuple[list[dict[str, Any]], list[Dynamic]],
        *,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self.plan = plan
        self.nodes = plan.nodes
        self.storage = storage
        self.executor = executor
        self.notifier = notifier
        self.fixed, self.dynamic = arguments
        self.clock = clock
        self.rng = rng
        count = len(plan.nodes)
        self.remaining = [0] * count
        self.ready: deque[int] = deque()
        self.failed: list[int] = []
        self.run_failures: list[Failure] = []
        self.timers: list[tuple[float, int, int, int, int]] = []
        """Backoff waits: (due, sequence, node, map element or -1, element attempt or 0)."""
        self.timer_seq = 0
        self.suspend_requested = False
        self.revoke: RevokeRequest | None = None
        """Set (from any thread) by ``engine.revoke()``; the loop reads it once per round."""
        self.revoking = False
        """The loop has acted on :attr:`revoke`: nothing new starts, and the run ends revoked."""
        self.events: list[tuple[Event, dict[str, Any]]] = []
        # Revert bookkeeping; ``revert_todo`` is None while running forward.
        self.revert_todo: set[int] | None = None
        self.revert_remaining: dict[int, int] = {}
        self.revert_ready: deque[int] = deque()
        self.revert_failed: dict[int, Failure] = {}
        self.after_revert: Callable[[], None] | None = None
        self.outcome: EngineState | None = None
        self.error: BaseException | None = None
        self.scoped_revert = False
        """When the outermost controller gives up, revert only its flow (TaskFlow's way)."""
        self.deadline: float | None = None
        """When the whole run times out, on the clock (``engine.run(timeout=...)``)."""
        self.lease_check: Callable[[], None] | None = None
        """Raises LeaseLostError once a persisted run's lease is gone (checked every round)."""
        self.poll: float | None = None
        """The longest the driver waits for running atoms, so a lost lease is noticed."""
        self.time_limit: float | None = None
        """The ``timeout=`` the deadline came from, in seconds (for the error message)."""
        self.timed_out = False
        self.started = [0.0] * count
        """Per node, when its current job started (perf_counter; kept while observed)."""
        self.retries = 0
        self.thread = threading.get_ident()
        self.progress_inbox: deque[tuple[int, float]] = deque()
        self.is_map = [is_map(n.atom) for n in plan.nodes]
        self.maps = MapRunner(self)
        self.deciders = Deciders(self)
        self.retrying = RetryHandler(self)
        self.recovery = Recovery(self)
        self.is_async = [bool(getattr(n.atom, "is_async", False)) for n in plan.nodes]
        self.revert_is_async = [bool(getattr(n.atom, "revert_is_async", False)) for n in plan.nodes]

    # -- the loop -------------------------------------------------------------------------

    def states(self) -> Iterator[EngineState]:
        """Drive the run; yields each phase. The driver waits when WAITING is yielded."""
        yield EngineState.RESUMING
        if self._ended():
            yield self._final()
            return
        self.thread = threading.get_ident()
        self._setup()
        lease_check = self.lease_check
        while not self._ended():
            yield EngineState.SCHEDULING
            if lease_check is not None:
                lease_check()
            if self.revoke is not None:
                obey_revoke(self)
            self._fire_timers()
            self._schedule()
            # A revert can finish within the round (a map with no element to undo).
            self._after_completions()
            if self._ended():
                break
            if self._idle():
                if self.revoke is not None and not self.revoking:
                    continue  # asked for while this round ran: the next round acts on it
                self._conclude()
                break
            # Nothing may have started this round: its completions are durable all the same.
            self.storage.flush()
            yield EngineState.WAITING
            yield EngineState.ANALYZING
            while self.progress_inbox:
                index, fraction = self.progress_inbox.popleft()
                self.storage.update_meta(index, progress=fraction)
            for completion in self.executor.take():
                self._complete(completion)
            self._check_deadline()
            self._after_completions()
        self.storage.flush()
        self._emit()
        yield self._final()

    def _final(self) -> EngineState:
        assert self.outcome is not None
        return self.outcome

    def _ended(self) -> bool:
        # A method, not an inline test: type checkers would narrow the attribute.
        return self.outcome is not None

    def wait_timeout(self) -> float | None:
        """How long the driver may wait for completions before a timer is due."""
        due = self.timers[0][0] if self.timers else None
        if self.deadline is not None and self.revert_todo is None:
            due = self.deadline if due is None else min(due, self.deadline)
        wait = None if due is None else max(0.0, due - self.clock.monotonic())
        if self.poll is None or not self.executor.in_flight:
            # A wait for timers alone is woken by the engine when the lease is lost.
            return wait
        return self.poll if wait is None else min(wait, self.poll)

    def _idle(self) -> bool:
        """True when nothing runs and nothing more will start in this run."""
        if self.executor.in_flight or self.revert_ready:
            return False
        if self.suspend_requested and self.revert_todo is None and not self.failed:
            return True  # ready atoms and backoff timers wait for the next run
        return not self.ready and not self.maps.queue and not self.timers and not self.failed

    # -- setup ------------------------------------------------------------------------------

    def _setup(self) -> None:
        storage = self.storage
        states = storage.states
        restored = self.recovery.restore()
        if storage.flow_state is FlowState.REVERTING:
            self._set_flow(FlowState.RESUMING)
            self._set_flow(FlowState.REVERTING)
            self.recovery.resume_revert(restored)
            return
        if storage.flow_state is FlowState.PENDING:
            self._set_flow(FlowState.RUNNING)
        else:
            self._set_flow(FlowState.RESUMING)
            self._set_flow(FlowState.RUNNING)
        self.maps.restored_timers = {k: v for k, v in restored.timers.items() if k[1] >= 0}
        pending: list[int] = []
        for node in self.nodes:
            index = node.index
            self.remaining[index] = sum(1 for p in node.preds if states[p] not in _FINISHED)
            state = states[index]
            if state is _A.RETRYING:
                self.recovery.resume_backoff(index, restored.timers.get((index, -1)))
            elif state in (_A.PENDING, _A.RUNNING) and self.remaining[index] == 0:
                pending.append(index)
            elif state is _A.FAILURE:
                self.failed.append(index)
        self._release(pending)
        if restored.mode is not None:
            self.recovery.resume_revert(restored)
        else:
            self.retrying.resume_interrupted_retries()

    # -- forward ----------------------------------------------------------------------------

    def _schedule(self) -> None:
        """One scheduling round: decide what starts, make the round durable, start it.

        Everything the round changed (the completions taken since the last
        round and the RUNNING or REVERTING marks of what starts now) goes out
        in one flush, whether or not anybody listens; when nothing starts,
        the loop flushes before it waits (or at the run's end). With
        listeners, the completions are flushed first on their own, so that a
        listener hears only of durable changes and can still suspend the run
        before anything new starts.
        """
        if self.events:
            self.storage.flush()
            self._emit()
        batch = self._next_reverts() if self.revert_todo is not None else self._next_jobs()
        if not (batch or self.events):
            return  # the loop flushes before it waits, or with the run's end
        self.storage.flush()
        self._emit()
        if self.lease_check is not None:
            # Paused past its lease between making the round durable and starting
            # it, a runner must not start what a successor may be running by now.
            self.lease_check()
        for job in batch:
            self.executor.submit(job)

    def _next_jobs(self) -> list[Job]:
        if self.revoke is not None:
            return []  # the next round acts on the revoke (a listener may just have asked)
        if self.failed and self.executor.in_flight == 0:
            self.retrying.decide()
            return self._next_reverts() if self._reverting() else []
        if self.failed or self.suspend_requested:
            return []
        room = self.executor.capacity - self.executor.in_flight
        queue = self.maps.queue
        batch: list[Job] = []
        while len(batch) < room and (self.ready or queue):
            job = self._start(self.ready.popleft()) if self.ready else self.maps.next_job()
            if job is not None:
                batch.append(job)
        return batch

    def _start(self, index: int) -> Job | None:
        storage = self.storage
        node = self.nodes[index]
        old = storage.set_state(index, _A.RUNNING)
        if old is not _A.RUNNING:
            storage.attempts[index] += 1
        storage.intentions[index] = Intention.EXECUTE
        if self.is_map[index]:
            if self.notifier.active:
                self._announce(index, _A.RUNNING, old, None)
            self.maps.start(index, resumed=old is _A.RUNNING)
            return None
        kwargs = self._arguments(index)
        atom = node.atom
        if node.is_retry:
            kwargs["history"] = History(storage.histories[index])
        job = Job(
            index,
            False,
            atom.execute,  # type: ignore[attr-defined]
            kwargs,
            self._context(index),
            getattr(atom, "timeout", None),
            self.is_async[index],
        )
        if self.notifier.active:
            self._announce(index, _A.RUNNING, old, job.context)
        return job

    def _announce(
        self, index: int, state: AtomState, old: AtomState, context: AtomContext | None
    ) -> None:
        """Queue the start of an execute or revert; ``context`` is its job's (None for a map)."""
        self._atom_event(index, state, old, context=context)
        self.started[index] = time.perf_counter()

    def _arguments(self, index: int, *, reverting: bool = False) -> dict[str, Any]:
        """The atom's inputs; a revert gets those whose providers still hold results."""
        kwargs = dict(self.fixed[index])
        states = self.storage.states
        results = self.storage.results
        for arg, provider, key, optional in self.dynamic[index]:
            if states[provider] is _A.SUCCESS:
                kwargs[arg] = ProvidesSpec.extract(results[provider], key)
            elif not optional and not reverting:
                raise EngineStateError(
                    f"atom {self.nodes[index].name!r} started before its provider "
                    f"{self.nodes[provider].name!r} succeeded"
                )
        return kwargs

    def _context(self, index: int) -> AtomContext:
        return AtomContext(
            flow_id=self.storage.flow_id,
            atom_name=self.nodes[index].name,
            attempt=max(1, self.storage.attempts[index]),
            report_progress=lambda fraction: self._progress(index, fraction),
        )

    def _complete(self, completion: Completion) -> None:
        if completion.element >= 0:
            self.maps.completed(completion)
        elif completion.revert:
            self._reverted(completion)
        elif completion.ok:
            self._succeeded(completion.node, completion.value)
        else:
            self._failed(completion.node, completion.value)

    def _succeeded(self, index: int, value: Any) -> None:
        node = self.nodes[index]
        storage = self.storage
        try:
            if not node.is_retry:
                node.atom.provides_spec.check(value, node.name)
            storage.check_value(index, value)
        except Exception as exc:
            self._failed(index, Failure.from_exception(exc))
            return
        if node.is_retry:
            storage.histories[index].append(Attempt(value, {}))
        storage.results[index] = value
        old = storage.set_state(index, _A.SUCCESS)
        if self.notifier.active:
            self._atom_event(index, _A.SUCCESS, old, result=value, elapsed=self._elapsed(index))
        self._release(node.succs)

    def _failed(self, index: int, failure: Failure) -> None:
        if self.revoking:
            self._fail_quietly(index, failure)  # a revoke is under way: no controller is asked
            self.run_failures.append(failure)
            return
        storage = self.storage
        storage.failures[index] = failure
        old = storage.set_state(index, _A.FAILURE)
        if self.notifier.active:
            self._atom_event(index, _A.FAILURE, old, failure=failure, elapsed=self._elapsed(index))
        self.retrying.record_failure(self.nodes[index].retry, index)
        self.failed.append(index)

    def _release(self, indices: Iterable[int]) -> None:
        """Count one finished predecessor off each node; start those now ready."""
        remaining = self.remaining
        work = list(indices)
        work.reverse()  # pop() from the end: release in plan (declaration) order
        while work:
            index = work.pop()
            left = remaining[index] - 1 if remaining[index] > 0 else 0
            remaining[index] = left
            if left:
                continue
            state = self.storage.states[index]
            if state is _A.IGNORE:
                work.extend(self.nodes[index].succs)
            elif state in (_A.PENDING, _A.RUNNING):
                if self.deciders.should_ignore(index):
                    self.deciders.switch_off(index)
                    work.extend(self.nodes[index].succs)
                else:
                    self.ready.append(index)

    def _check_deadline(self) -> None:
        """Once the run's deadline passed: give up on what runs, revert what completed."""
        if self.deadline is None or self.timed_out or self.revert_todo is not None:
            return
        if self.clock.monotonic() < self.deadline:
            return
        from steadyflow.errors import RunTimeoutError

        self.timed_out = True
        limit = f"within its timeout of {self.time_limit:g} s" if self.time_limit else "in time"
        error = RunTimeoutError(f"flow {self.plan.flow_name!r} did not finish {limit}")
        failure = Failure.from_exception(error)
        for job in self.executor.abandon():
            if not job.revert and self.storage.states[job.node] is _A.RUNNING:
                self._fail_quietly(job.node, failure)
                self.maps.abandon(job.node)
        self.failed = []
        self.run_failures = [failure]
        self._set_flow(FlowState.REVERTING)
        self._begin_revert(range(len(self.nodes)), self._finish_revert_all, REVERT_ALL)

    def _fail_quietly(self, index: int, failure: Failure) -> None:
        """Record a failure that no retry controller is asked about."""
        self.storage.failures[index] = failure
        old = self.storage.set_state(index, _A.FAILURE)
        if self.notifier.active:
            self._atom_event(index, _A.FAILURE, old, failure=failure, elapsed=self._elapsed(index))

    def _after_completions(self) -> None:
        if self.revert_todo is not None and self._revert_done():
            self._finish_revert()

    # -- retries ---------------------------------------------------------------------------------

    def _fire_timers(self) -> None:
        if not self.timers:
            return
        now = self.clock.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, index, element, attempt = heapq.heappop(self.timers)
            if element < 0:
                self.ready.append(index)
            else:
                self.maps.wake(index, element, attempt)

    # -- reverting -----------------------------------------------------------------------------

    def _begin_revert(
        self,
        members: range | set[int],
        then: Callable[[], None],
        mode: str,
        controllers: Iterable[int] = (),
        failed: dict[int, Failure] | None = None,
    ) -> None:
        """Revert ``members`` in reverse order, then call ``then``.

        ``failed`` are reverts that already failed (before an escalation or a
        crash): they are not tried again, and they block their predecessors.
        """
        states = self.storage.states
        undo = _REVOKE_REVERTS if self.revoking else _NEEDS_REVERT
        todo = {i for i in members if states[i] in undo and i not in (failed or {})}
        self.revert_todo = todo
        self.revert_failed = dict(failed or {})
        blocking = todo | self.revert_failed.keys()
        self.after_revert = then
        # Atoms ready outside the reverted scope wait for the retry, not for ever.
        self.ready = deque(i for i in self.ready if i not in members)
        self.maps.clear_queue(members)
        self.revert_remaining = {
            i: sum(1 for s in self.nodes[i].succs if s in blocking) for i in todo
        }
        self.revert_ready = deque(
            sorted((i for i, n in self.revert_remaining.items() if n == 0), reverse=True)
        )
        self.recovery.begin(mode, list(controllers))
        if self._revert_done():
            self._finish_revert()

    def _reverting(self) -> bool:
        return self.revert_todo is not None

    def _revert_done(self) -> bool:
        return not self.revert_ready and self.executor.in_flight == 0

    def _next_reverts(self) -> list[Job]:
        room = self.executor.capacity - self.executor.in_flight
        batch: list[Job] = []
        while self.revert_ready and len(batch) < room:
            batch.extend(self._start_revert(self.revert_ready.popleft()))
        return batch

    def _start_revert(self, index: int) -> list[Job]:
        storage = self.storage
        if storage.states[index] is _A.RUNNING:
            # Given up on (a run timeout) or interrupted by a crash: it counts as failed.
            storage.set_state(index, _A.FAILURE)
        old = storage.set_state(index, _A.REVERTING)
        storage.intentions[index] = Intention.REVERT
        job = None if self.is_map[index] else self._revert_job(index, old)
        if self.notifier.active:
            self._announce(index, _A.REVERTING, old, None if job is None else job.context)
        if job is not None:
            return [job]
        jobs = self.maps.revert_jobs(index, self.maps.element_revert_job)
        if not jobs:
            self._reverted(self.maps.revert_outcome(index))
        return jobs

    def _revert_job(self, index: int, old: AtomState) -> Job:
        storage = self.storage
        node = self.nodes[index]
        kwargs = self._arguments(index, reverting=True)
        atom = node.atom
        if node.is_retry:
            retry: Retry = atom  # type: ignore[assignment]
            kwargs["history"] = History(storage.histories[index])
            return Job(index, True, retry.revert, kwargs, self._context(index))
        task: Task = atom  # type: ignore[assignment]
        failure = storage.failures[index]
        failed = old is _A.FAILURE or (old is _A.REVERT_FAILURE and failure is not None)
        outcome = failure if failed else storage.results[index]
        failures = storage.failures_by_name()
        return Job(
            index,
            True,
            task.revert,
            task.revert_arguments(kwargs, outcome, failures),
            self._context(index),
            is_async=self.revert_is_async[index],
        )

    def _reverted(self, completion: Completion) -> None:
        index = completion.node
        storage = self.storage
        if completion.ok:
            try:
                storage.check_value(index, completion.value, "revert result")
            except ResultSerializationError as exc:
                completion = Completion(index, True, False, Failure.from_exception(exc))
        if completion.ok:
            storage.revert_results[index] = completion.value
            storage.set_state(index, _A.REVERTED)
            if self.notifier.active:
                self._atom_event(index, _A.REVERTED, _A.REVERTING, elapsed=self._elapsed(index))
            todo = self.revert_todo or set()
            for pred in self.nodes[index].preds:
                if pred in todo:
                    self.revert_remaining[pred] -= 1
                    if self.revert_remaining[pred] == 0:
                        self.revert_ready.append(pred)
            return
        storage.revert_failures[index] = completion.value
        storage.set_state(index, _A.REVERT_FAILURE)
        self.revert_failed[index] = completion.value
        self.recovery.changed()
        if self.notifier.active:
            self._atom_event(
                index,
                _A.REVERT_FAILURE,
                _A.REVERTING,
                failure=completion.value,
                elapsed=self._elapsed(index),
            )

    def _finish_revert(self) -> None:
        then = self.after_revert
        self.after_revert = None
        if then is not None:
            then()

    def _finish_revert_all(self) -> None:
        self.revert_todo = None
        self.recovery.end()
        if self.revert_failed:
            self._fail_with_revert_failures()
            return
        self._set_flow(FlowState.REVERTED)
        self.outcome = EngineState.REVERTED
        revoke = self.revoke
        if not self.revoking or revoke is None:
            self.error = self._original_error()
        elif revoke.raise_error:
            self.error = revoke.error(self.plan.flow_name, self.run_failures)

    def _escalate_revert_failure(self) -> None:
        """A revert inside a retried scope failed: retrying is unsafe, revert everything."""
        failed = dict(self.revert_failed)
        self._set_flow(FlowState.REVERTING)
        self._begin_revert(range(len(self.nodes)), self._finish_revert_all, REVERT_ALL, (), failed)

    def _fail_with_revert_failures(self) -> None:
        self._set_flow(FlowState.FAILURE)
        self.outcome = EngineState.FAILURE
        names = {self.nodes[i].name: f for i, f in self.revert_failed.items()}
        originals = ", ".join(str(f) for f in self.run_failures) or "unknown failure"
        self.error = RevertFailedError(
            f"flow {self.plan.flow_name!r} failed ({originals}) and reverting it failed too: "
            + ", ".join(f"{name}: {failure}" for name, failure in names.items()),
            self.run_failures,
            names,
        )

    def _original_error(self) -> BaseException:
        failures = self.run_failures
        if len(failures) == 1:
            return failures[0].to_exception()
        exceptions = [f.to_exception() for f in failures]
        return FailureGroup(
            f"{len(failures)} atoms of flow {self.plan.flow_name!r} failed",
            [e if isinstance(e, Exception) else Exception(str(e)) for e in exceptions],
        )

    # -- ending -----------------------------------------------------------------------------------

    def _conclude(self) -> None:
        states = self.storage.states
        if all(state in _FINISHED for state in states):
            self.recovery.changed()  # drops a record left from retries (a no-op otherwise)
            self._set_flow(FlowState.SUCCESS)
            self.outcome = EngineState.SUCCESS
            return
        if self.suspend_requested:
            if self.timers:
                # A suspend ends the backoff waits: the next run starts those attempts at once.
                self.timers = []
                self.recovery.changed()
            self._set_flow(FlowState.SUSPENDING)
            self._set_flow(FlowState.SUSPENDED)
            self.outcome = EngineState.SUSPENDED
            return
        stuck = [n.name for n in self.nodes if states[n.index] not in _FINISHED][:5]
        raise EngineStateError(
            f"flow {self.plan.flow_name!r} cannot make progress; unfinished atoms: {stuck}"
        )

"""Map atoms at run time: one sub-job per element, per-element state in Storage.

A :class:`~steadyflow.mapreduce.Map` stays one node of the immutable plan.
When the engine starts it, this module expands it into element jobs, and
records each element's progress in the node's own storage, where the
persistence layer saves it with the node:

- ``storage.results[node]``: the list of element results (None for an
  element that has not succeeded); once the map succeeded, its result;
- ``storage.meta[node]["elements"]``: each element's state, an
  :class:`~steadyflow.states.AtomState` value (PENDING, RUNNING, SUCCESS,
  FAILURE, REVERTING, REVERTED, REVERT_FAILURE);
- ``storage.meta[node]["element_attempts"]``: how many times each element
  started (kept when a retried scope resets the map, as plain atoms' attempt
  counts are, so each attempt has its own idempotency key);
- ``storage.meta[node]["element_failures"]``: element index (as a string) ->
  ``Failure.to_dict()`` of its latest failure, while it stands;
- ``storage.meta[node]["element_revert_failures"]``: the same for failed reverts.

A resumed run finds the map RUNNING, keeps the elements that succeeded and
runs the others again: an element that was running when the process died runs
again under the same attempt number (hence the same idempotency key); one
waiting out a retry backoff waits what is left of it (the recovery record,
:mod:`steadyflow.engine._recovery`, keeps the timers and per-element retry
histories). A map found REVERTING reverts the elements not reverted yet. A
retried scope resets the map, elements included. Backoff timers carry the
element's attempt, so a timer left from before a reset is dropped when it fires.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Any

from steadyflow.context import AtomContext
from steadyflow.engine._executor import Completion, Job
from steadyflow.errors import FailureGroup, InvalidInputError
from steadyflow.failure import Failure
from steadyflow.mapreduce import ITEMS_ARG, Map
from steadyflow.retry import Attempt, Decision, History
from steadyflow.states import AtomState

if TYPE_CHECKING:
    from steadyflow.engine._machine import Machine

__all__ = ["MapRunner"]

_A = AtomState
_TO_REVERT = frozenset({_A.SUCCESS.value, _A.FAILURE.value, _A.RUNNING.value, _A.REVERTING.value})
_ELEMENT_KEYS = ("elements", "element_failures", "element_revert_failures")


class MapRunner:
    """The element bookkeeping of every map node of one run."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.queue: deque[tuple[int, int]] = deque()
        self.items: dict[int, list[Any]] = {}
        self.inputs: dict[int, dict[str, Any]] = {}
        self.open: dict[int, int] = {}
        """Per map node: elements not finished yet (queued, running or waiting to retry)."""
        self.running: dict[int, int] = {}
        self.failures: dict[int, dict[int, Failure]] = {}
        self.histories: dict[tuple[int, int], list[Attempt]] = {}
        self.reverting: dict[int, int] = {}
        self.revert_failures: dict[int, Failure] = {}
        self.reruns: dict[int, set[int]] = {}
        """Per map node: elements interrupted by a crash, to run again under their attempt."""
        self.restored_timers: dict[tuple[int, int], tuple[float, int]] = {}
        """(node, element) -> (due, attempt): backoffs a crash interrupted."""
        self.started: dict[tuple[int, int], float] = {}
        """(node, element) -> when its execute or revert started (perf_counter), while observed."""

    # -- shared helpers ------------------------------------------------------------------

    def _meta(self, index: int) -> dict[str, Any]:
        storage = self.machine.storage
        meta = storage.meta[index]
        if meta is None:
            meta = storage.meta[index] = {}
        return meta

    def _set(self, index: int, element: int, state: AtomState) -> None:
        self._meta(index)["elements"][element] = state.value
        self.machine.storage.touch(index)

    def _tell(self, index: int, element: int, state: AtomState, old: str, **extra: Any) -> None:
        """Queue an element's transition for the listeners, if there are any."""
        machine = self.machine
        if not machine.notifier.active:
            return
        attempts = self._meta(index).get("element_attempts") or []
        attempt = attempts[element] if element < len(attempts) else 1
        key = (index, element)
        if state is _A.RUNNING or state is _A.REVERTING:
            self.started[key] = time.perf_counter()
        else:
            started = self.started.pop(key, None)
            if started is not None:
                extra["elapsed"] = time.perf_counter() - started
        machine.element_event(index, element, attempt, state, old, **extra)

    def _context(self, index: int, element: int, attempt: int) -> AtomContext:
        machine = self.machine
        return AtomContext(
            flow_id=machine.storage.flow_id,
            atom_name=f"{machine.nodes[index].name}[{element}]",
            attempt=max(1, attempt),
            report_progress=lambda fraction: None,
        )

    def reset(self, index: int) -> None:
        """Forget every element of a map node (its scope is being retried).

        Attempt counts stay: the next attempts get new idempotency keys.
        """
        meta = self.machine.storage.meta[index]
        if meta is not None:
            for key in _ELEMENT_KEYS:
                meta.pop(key, None)
        self._forget_histories(index)
        self.reruns.pop(index, None)
        self.machine.storage.touch(index)

    def _forget_histories(self, index: int) -> None:
        """Drop a map's element retry histories: it finished, or it starts over."""
        for stale in [k for k in self.histories if k[0] == index]:
            del self.histories[stale]

    # -- forward -------------------------------------------------------------------------

    def start(self, index: int, resumed: bool) -> None:
        """Expand a map node that just moved to RUNNING into queued elements."""
        machine = self.machine
        storage = machine.storage
        kwargs = machine._arguments(index)
        atom: Map = machine.nodes[index].atom  # type: ignore[assignment]
        try:
            items = atom.items_of(kwargs.pop(ITEMS_ARG))
        except InvalidInputError as exc:
            machine._failed(index, Failure.from_exception(exc))
            return
        count = len(items)
        meta = self._meta(index)
        states = meta.get("elements")
        results = storage.results[index]
        attempts = meta.get("element_attempts")
        if not (isinstance(attempts, list) and len(attempts) == count):
            attempts = [0] * count
        failures: dict[str, Any] = {}
        waiting: list[int] = []
        if (
            resumed
            and isinstance(states, list)
            and len(states) == count
            and isinstance(results, list)
            and len(results) == count
        ):
            self.reruns[index] = {i for i, s in enumerate(states) if s == _A.RUNNING.value}
            waiting = self._restore_waits(index, states, attempts)
            stored = meta.get("element_failures") or {}
            failures = {str(i): stored[str(i)] for i in waiting if str(i) in stored}
            states = [
                s if s == _A.SUCCESS.value or i in waiting else _A.PENDING.value
                for i, s in enumerate(states)
            ]
        else:
            states = [_A.PENDING.value] * count
            results = [None] * count
        storage.results[index] = results
        meta.update(elements=states, element_attempts=attempts, element_failures=failures)
        storage.touch(index)
        self.items[index] = items
        self.inputs[index] = kwargs
        self.failures[index] = {}
        self.running[index] = 0
        pending = [i for i, state in enumerate(states) if state == _A.PENDING.value]
        self.open[index] = len(pending) + len(waiting)
        self.queue.extend((index, i) for i in pending)
        if not pending and not waiting:
            self._finish(index)

    def _restore_waits(self, index: int, states: list[str], attempts: list[int]) -> list[int]:
        """Put back the backoff timers of failed elements a crash interrupted."""
        machine = self.machine
        waiting: list[int] = []
        for element, state in enumerate(states):
            timer = self.restored_timers.pop((index, element), None)
            if timer is None or state != _A.FAILURE.value or timer[1] != attempts[element]:
                continue
            machine.timer_seq += 1
            heapq.heappush(machine.timers, (timer[0], machine.timer_seq, index, element, timer[1]))
            waiting.append(element)
        return waiting

    def wake(self, index: int, element: int, attempt: int) -> None:
        """A backoff timer fired: queue the element, unless the timer is stale.

        A timer is stale when the map was reset or reverted since it was set
        (the element is no longer the failed attempt the timer was set for).
        """
        if index not in self.open:
            return
        meta = self._meta(index)
        if meta["elements"][element] != _A.FAILURE.value:
            return
        if meta["element_attempts"][element] != attempt:
            return
        self.queue.append((index, element))

    def next_job(self) -> Job | None:
        """The job of the next queued element, or None when that element is skipped."""
        index, element = self.queue.popleft()
        if index not in self.open:
            return None  # the map was reverted or finished meanwhile
        if self.failures[index]:
            # A sibling failed for good: start nothing more of this map.
            self._close_one(index)
            return None
        machine = self.machine
        atom: Map = machine.nodes[index].atom  # type: ignore[assignment]
        meta = self._meta(index)
        reruns = self.reruns.get(index)
        if reruns and element in reruns and meta["element_attempts"][element] > 0:
            reruns.discard(element)  # the interrupted attempt again, under its own key
        else:
            meta["element_attempts"][element] += 1
        old = meta["elements"][element]
        self._set(index, element, _A.RUNNING)
        self.running[index] += 1
        job = Job(
            index,
            False,
            atom.element.execute,
            atom.element_kwargs(self.items[index][element], self.inputs[index]),
            self._context(index, element, meta["element_attempts"][element]),
            atom.timeout,
            machine.is_async[index],
            element,
        )
        self._tell(index, element, _A.RUNNING, old, context=job.context)
        return job

    def completed(self, completion: Completion) -> None:
        """Record one element's outcome; finish the map once every element is done."""
        if completion.revert:
            self._reverted(completion)
            return
        index, element = completion.node, completion.element
        if index not in self.open or self._meta(index)["elements"][element] != _A.RUNNING.value:
            return  # stale: the map was reset, reverted or given up on since it started
        self.running[index] -= 1
        if completion.ok:
            self.machine.storage.results[index][element] = completion.value
            self._set(index, element, _A.SUCCESS)
            self._tell(index, element, _A.SUCCESS, _A.RUNNING.value)
            self._meta(index)["element_failures"].pop(str(element), None)
            self._close_one(index)
            return
        failure: Failure = completion.value
        self._set(index, element, _A.FAILURE)
        self._tell(index, element, _A.FAILURE, _A.RUNNING.value, failure=failure)
        self._meta(index)["element_failures"][str(element)] = failure.to_dict()
        if self._retry_later(index, element, failure):
            return
        self.failures[index][element] = failure
        self._close_one(index)

    def _retry_later(self, index: int, element: int, failure: Failure) -> bool:
        machine = self.machine
        atom: Map = machine.nodes[index].atom  # type: ignore[assignment]
        policy = atom.element_retry
        if policy is None:
            return False
        attempts = self.histories.setdefault((index, element), [])
        attempts.append(Attempt(self.items[index][element], {f"{atom.name}[{element}]": failure}))
        history = History(attempts)
        try:
            decision = Decision(policy.on_failure(history=history))
        except Exception:
            return False
        if decision is not Decision.RETRY:
            return False
        delay = policy.delay_for(len(attempts), machine.rng)
        machine.retries += 1
        machine.timer_seq += 1
        due = machine.clock.monotonic() + delay
        attempt = self._meta(index)["element_attempts"][element]
        heapq.heappush(machine.timers, (due, machine.timer_seq, index, element, attempt))
        machine.recovery.changed()
        return True

    def _close_one(self, index: int) -> None:
        self.open[index] -= 1
        if self.open[index] == 0 and self.running[index] == 0:
            self._finish(index)

    def _finish(self, index: int) -> None:
        machine = self.machine
        failures = self.failures.pop(index, {})
        del self.open[index]
        self.running.pop(index, None)
        self.items.pop(index, None)
        self.inputs.pop(index, None)
        self._forget_histories(index)
        if not failures:
            machine._succeeded(index, list(machine.storage.results[index]))
            return
        if len(failures) == 1:
            failure = next(iter(failures.values()))
        else:
            name = machine.nodes[index].name
            group = FailureGroup(
                f"{len(failures)} elements of map {name!r} failed",
                [_exception(f) for f in failures.values()],
            )
            failure = Failure.from_exception(group)
        machine._failed(index, failure)

    def abandon(self, index: int) -> None:
        """Stop tracking a map node whose running elements were given up on."""
        self.open.pop(index, None)
        self.running.pop(index, None)
        self.failures.pop(index, None)
        self.reruns.pop(index, None)

    def clear_queue(self, within: Container[int]) -> None:
        """Drop the queued elements of the maps ``within`` a scope turned to reverting.

        Elements of maps outside it stay queued: they run once the scope is retried.
        """
        dropped = {index for index, _ in self.queue if index in within}
        for index in dropped:
            self.abandon(index)
        self.queue = deque(item for item in self.queue if item[0] not in dropped)

    # -- reverting -----------------------------------------------------------------------

    def revert_jobs(self, index: int, make_job: Callable[[int, int, Any], Job]) -> list[Job]:
        """Jobs reverting every element of a map node that ran and is not undone yet.

        [] when there is none: :meth:`revert_outcome` then says how the map's
        revert ended (an element revert that failed before a crash counts).
        """
        self.abandon(index)
        storage = self.machine.storage
        meta = self._meta(index)
        states: list[str] = meta.get("elements") or []
        results = storage.results[index]
        stored_failures: dict[str, Any] = meta.get("element_failures") or {}
        revert_failures: dict[str, Any] = meta.setdefault("element_revert_failures", {})
        jobs: list[Job] = []
        for element, state in enumerate(states):
            if state == _A.REVERT_FAILURE.value and str(element) in revert_failures:
                failure = Failure.from_dict(revert_failures[str(element)])
                self.revert_failures.setdefault(index, failure)
            if state not in _TO_REVERT:
                continue
            if str(element) in stored_failures:
                outcome: Any = Failure.from_dict(stored_failures[str(element)])
            else:
                outcome = results[element] if isinstance(results, list) else None
            states[element] = _A.REVERTING.value
            job = make_job(index, element, outcome)
            self._tell(index, element, _A.REVERTING, state, context=job.context)
            jobs.append(job)
        storage.touch(index)
        if jobs:
            self.reverting[index] = len(jobs)
        return jobs

    def revert_outcome(self, index: int) -> Completion:
        """How the revert of a map node with no element left to revert ended."""
        failure = self.revert_failures.pop(index, None)
        return Completion(index, True, failure is None, failure)

    def _reverted(self, completion: Completion) -> None:
        index, element = completion.node, completion.element
        if completion.ok:
            self._set(index, element, _A.REVERTED)
            self._tell(index, element, _A.REVERTED, _A.REVERTING.value)
        else:
            self._set(index, element, _A.REVERT_FAILURE)
            self._tell(
                index, element, _A.REVERT_FAILURE, _A.REVERTING.value, failure=completion.value
            )
            failures = self._meta(index).setdefault("element_revert_failures", {})
            failures[str(element)] = completion.value.to_dict()
            self.revert_failures.setdefault(index, completion.value)
        self.reverting[index] -= 1
        if self.reverting[index] == 0:
            del self.reverting[index]
            self.machine._reverted(self.revert_outcome(index))

    def element_revert_job(self, index: int, element: int, outcome: Any) -> Job:
        """The job reverting one element, given its result (or Failure)."""
        machine = self.machine
        atom: Map = machine.nodes[index].atom  # type: ignore[assignment]
        storage = machine.storage
        kwargs = machine._arguments(index, reverting=True)
        items = kwargs.pop(ITEMS_ARG, None) or []
        item = items[element] if element < len(items) else None
        inputs = atom.element_kwargs(item, kwargs)
        attempts = self._meta(index).get("element_attempts") or []
        attempt = attempts[element] if element < len(attempts) else 1
        return Job(
            index,
            True,
            atom.element.revert,
            atom.element.revert_arguments(inputs, outcome, storage.failures_by_name()),
            self._context(index, element, attempt),
            is_async=machine.revert_is_async[index],
            element=element,
        )


def _exception(failure: Failure) -> Exception:
    exc = failure.to_exception()
    return exc if isinstance(exc, Exception) else Exception(str(exc))

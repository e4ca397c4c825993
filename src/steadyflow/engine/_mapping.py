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
- ``storage.meta[node]["element_attempts"]``: how many times each element started;
- ``storage.meta[node]["element_failures"]``: element index (as a string) ->
  ``Failure.to_dict()`` of its latest failure.

A resumed run finds the map RUNNING, keeps the elements that succeeded and
runs the others again; a retried scope resets the map, elements included.
"""

from __future__ import annotations

import heapq
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
_TO_REVERT = frozenset({_A.SUCCESS.value, _A.FAILURE.value, _A.RUNNING.value})


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

    def _context(self, index: int, element: int, attempt: int) -> AtomContext:
        machine = self.machine
        return AtomContext(
            flow_id=machine.storage.flow_id,
            atom_name=f"{machine.nodes[index].name}[{element}]",
            attempt=max(1, attempt),
            report_progress=lambda fraction: None,
        )

    def reset(self, index: int) -> None:
        """Forget every element of a map node (its scope is being retried)."""
        meta = self.machine.storage.meta[index]
        if meta is not None:
            for key in ("elements", "element_attempts", "element_failures"):
                meta.pop(key, None)
        self.machine.storage.touch(index)

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
        if (
            resumed
            and isinstance(states, list)
            and len(states) == count
            and isinstance(results, list)
            and len(results) == count
        ):
            states = [s if s == _A.SUCCESS.value else _A.PENDING.value for s in states]
            attempts = list(meta.get("element_attempts") or [0] * count)
        else:
            states = [_A.PENDING.value] * count
            results = [None] * count
            attempts = [0] * count
        storage.results[index] = results
        meta.update(elements=states, element_attempts=attempts, element_failures={})
        storage.touch(index)
        self.items[index] = items
        self.inputs[index] = kwargs
        self.failures[index] = {}
        self.running[index] = 0
        pending = [i for i, state in enumerate(states) if state != _A.SUCCESS.value]
        self.open[index] = len(pending)
        self.queue.extend((index, i) for i in pending)
        if not pending:
            self._finish(index)

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
        meta["element_attempts"][element] += 1
        self._set(index, element, _A.RUNNING)
        self.running[index] += 1
        return Job(
            index,
            False,
            atom.element.execute,
            atom.element_kwargs(self.items[index][element], self.inputs[index]),
            self._context(index, element, meta["element_attempts"][element]),
            atom.timeout,
            machine.is_async[index],
            element,
        )

    def completed(self, completion: Completion) -> None:
        """Record one element's outcome; finish the map once every element is done."""
        if completion.revert:
            self._reverted(completion)
            return
        index, element = completion.node, completion.element
        if index not in self.open:
            return
        self.running[index] -= 1
        if completion.ok:
            self.machine.storage.results[index][element] = completion.value
            self._set(index, element, _A.SUCCESS)
            self._close_one(index)
            return
        failure: Failure = completion.value
        self._set(index, element, _A.FAILURE)
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
        heapq.heappush(machine.timers, (due, machine.timer_seq, index, element))
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
        """Jobs reverting every element of a map node that ran; [] when none did."""
        self.abandon(index)
        storage = self.machine.storage
        meta = self._meta(index)
        states: list[str] = meta.get("elements") or []
        results = storage.results[index]
        stored_failures: dict[str, Any] = meta.get("element_failures") or {}
        jobs: list[Job] = []
        for element, state in enumerate(states):
            if state not in _TO_REVERT:
                continue
            if state == _A.FAILURE.value and str(element) in stored_failures:
                outcome: Any = Failure.from_dict(stored_failures[str(element)])
            else:
                outcome = results[element] if isinstance(results, list) else None
            states[element] = _A.REVERTING.value
            jobs.append(make_job(index, element, outcome))
        storage.touch(index)
        self.reverting[index] = len(jobs)
        return jobs

    def _reverted(self, completion: Completion) -> None:
        index, element = completion.node, completion.element
        if completion.ok:
            self._set(index, element, _A.REVERTED)
        else:
            self._set(index, element, _A.REVERT_FAILURE)
            self.revert_failures.setdefault(index, completion.value)
        self.reverting[index] -= 1
        if self.reverting[index] == 0:
            del self.reverting[index]
            failure = self.revert_failures.pop(index, None)
            self.machine._reverted(Completion(index, True, failure is None, failure))

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

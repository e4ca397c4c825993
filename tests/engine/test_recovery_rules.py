"""Engine rules the recovery work fixed, in memory: empty maps, element keys, stale timers."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.context import current_context
from steadyflow.engine import EngineKind


def _fails(message: str) -> sf.Task:
    @sf.task(name="boom")
    def boom() -> None:
        raise RuntimeError(message)

    return boom


@pytest.mark.parametrize("kind", ["serial", "parallel"])
def test_an_empty_map_before_a_failure_reverts_cleanly(kind: EngineKind) -> None:
    # Given a map over nothing, then a task that fails
    flow = sf.Linear(
        "empty", sf.Map(lambda x: x, over="xs", provides="ys", name="m"), _fails("late")
    )
    engine = sf.load(flow, store={"xs": []}, engine=kind)
    # When it runs, Then the original error is raised and the flow ends REVERTED
    with pytest.raises(RuntimeError, match="late"):
        engine.run()
    assert engine.storage.flow_state is sf.FlowState.REVERTED
    assert engine.storage.get_state("m") is sf.AtomState.REVERTED


def test_an_empty_map_reverts_cleanly_when_persisted(tmp_path: Any) -> None:
    flow = sf.Linear(
        "empty", sf.Map(lambda x: x, over="xs", provides="ys", name="m"), _fails("late")
    )
    with (
        sf.load(flow, store={"xs": []}, backend=f"sqlite:///{tmp_path}/s.db") as engine,
        pytest.raises(RuntimeError, match="late"),
    ):
        engine.run()
    assert engine.storage.flow_state is sf.FlowState.REVERTED


def test_a_retried_scope_gives_map_elements_new_attempt_numbers() -> None:
    # Given a map and a task that fails once, in a retried scope
    keys: list[str] = []
    calls: list[int] = []

    def element(x: int) -> int:
        keys.append(current_context().idempotency_key)
        return x

    @sf.task(name="once")
    def once() -> None:
        keys.append(current_context().idempotency_key)
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")

    mapped = sf.Map(element, over="xs", provides="ys", name="m")
    flow = sf.Linear("scope", mapped, once, retry=sf.retry.Times(2))
    engine = sf.load(flow, store={"xs": [1]}, flow_id="f")
    # When it runs
    engine.run()
    # Then elements moved to attempt 2 with the plain task: no key is reused
    assert keys == ["f:m[0]:1", "f:once:1", "f:m[0]:2", "f:once:2"]


def test_a_stale_element_timer_does_not_fire_into_a_retried_scope() -> None:
    # Given element 0 failing once (retried after 0.3 s) while a sibling fails at
    # 0.1 s, which retries the whole scope before the element's timer is due
    running: set[int] = set()
    overlaps: list[int] = []
    element_calls: list[int] = []
    lock = threading.Lock()

    def element(x: int) -> int:
        with lock:
            element_calls.append(x)
            if x in running:
                overlaps.append(x)
            running.add(x)
            first = element_calls.count(x) == 1
        try:
            if x == 0 and first:
                raise RuntimeError("element 0 fails once")
            if x == 0:
                time.sleep(0.6)  # still running when the stale timer would fire
            return x
        finally:
            with lock:
                running.discard(x)

    sibling_calls: list[int] = []

    @sf.task(name="sibling")
    def sibling() -> None:
        sibling_calls.append(1)
        if len(sibling_calls) == 1:
            time.sleep(0.1)
            raise RuntimeError("the sibling fails once")

    mapped = sf.Map(element, over="xs", provides="ys", name="m", retry=sf.retry.Times(3, delay=0.3))
    flow = sf.Unordered("scope", mapped, sibling, retry=sf.retry.Times(2))
    # When it runs on threads
    results = sf.run(flow, {"xs": [0, 1]}, engine="parallel")
    # Then it succeeds and no element ever ran twice at once
    assert results == {"ys": [0, 1]}
    assert overlaps == []


def test_run_iter_async_sees_a_completion_that_came_while_the_consumer_was_away() -> None:
    # Given a 0.1 s task, run with a 5 s timeout by a consumer that awaits
    # between phases for longer than the task takes
    @sf.task(name="quick", provides="out")
    def quick() -> int:
        time.sleep(0.1)
        return 7

    engine = sf.load(sf.Linear("l", quick), engine="asyncio")

    async def consume() -> None:
        async for _ in engine.run_iter_async(timeout=5):
            await asyncio.sleep(0.3)

    # When it runs, Then it succeeds: the completion is taken, not slept through
    asyncio.run(consume())
    assert engine.storage.flow_state is sf.FlowState.SUCCESS
    assert engine.storage.fetch("out") == 7

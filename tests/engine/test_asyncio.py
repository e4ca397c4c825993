"""asyncio, natively: coroutines run on a loop, never via asyncio.run per call."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.engine import EngineKind
from steadyflow.errors import TaskTimeoutError


class Gather(sf.Task):
    """Succeeds only once all ``parties`` of an asyncio.Barrier arrived together."""

    def __init__(self, name: str, barrier: asyncio.Barrier) -> None:
        super().__init__(name, provides=name)
        self.barrier = barrier

    async def execute(self) -> str:
        async with asyncio.timeout(10):
            await self.barrier.wait()
        return threading.current_thread().name


def test_run_async_runs_async_tasks_at_once_on_the_running_loop() -> None:
    async def main() -> dict[str, Any]:
        barrier = asyncio.Barrier(50)
        flow = sf.Unordered("u", *[Gather(f"g{i}", barrier) for i in range(50)])
        return await sf.run_async(flow)

    results = asyncio.run(main())
    assert set(results.values()) == {threading.current_thread().name}


def test_engine_run_async_inside_a_running_loop() -> None:
    async def main() -> sf.Engine:
        engine = sf.load(sf.Linear("l", sf.task(_double, provides="y")), {"x": 2}, engine="asyncio")
        await engine.run_async()
        return engine

    engine = asyncio.run(main())
    assert engine.storage.fetch("y") == 4
    assert engine.state is sf.EngineState.SUCCESS


async def _double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def test_sync_tasks_of_an_async_run_go_to_threads() -> None:
    loop_thread: list[str] = []

    def where() -> str:
        return threading.current_thread().name

    async def main() -> dict[str, Any]:
        loop_thread.append(threading.current_thread().name)
        return await sf.run_async(sf.Linear("l", sf.task(where, provides="name")))

    results = asyncio.run(main())
    assert results["name"] != loop_thread[0]


@pytest.mark.parametrize("kind", ["serial", "parallel", "asyncio"])
def test_async_tasks_in_a_sync_run_get_an_internal_loop(kind: EngineKind) -> None:
    flow = sf.Linear(
        "l", sf.task(_double, provides="y"), sf.task(lambda y: y + 1, name="inc", provides="z")
    )
    assert sf.run(flow, {"x": 5}, engine=kind) == {"y": 10, "z": 11}


def test_a_sync_run_works_from_inside_a_running_loop() -> None:
    # asyncio.run() per coroutine would fail here: a loop already runs in this thread.
    async def main() -> dict[str, Any]:
        return sf.run(sf.Linear("l", sf.task(_double, provides="y")), {"x": 1})

    assert asyncio.run(main()) == {"y": 2}


def test_a_function_task_returning_a_coroutine_is_awaited() -> None:
    def later(x: int) -> Any:
        return _double(x)

    flow = sf.Linear("l", sf.task(later, provides="y"))
    assert sf.run(flow, {"x": 3}, engine="parallel") == {"y": 6}

    async def main() -> dict[str, Any]:
        return await sf.run_async(
            sf.Linear("l2", sf.task(later, name="later2", provides="y")), {"x": 4}
        )

    assert asyncio.run(main()) == {"y": 8}


def test_async_revert_runs_on_the_loop() -> None:
    undone: list[int] = []

    class Undo(sf.Task):
        async def execute(self, x: int) -> int:
            return x

        async def revert(self, x: int, **kwargs: Any) -> None:
            await asyncio.sleep(0)
            undone.append(x)

    boom = sf.task(lambda: (_ for _ in ()).throw(RuntimeError("boom")), name="boom")
    flow = sf.Linear("l", Undo(provides="y"), boom)

    async def main() -> None:
        await sf.run_async(flow, {"x": 7})

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(main())
    assert undone == [7]


@pytest.mark.parametrize("kind", ["serial", "parallel", "asyncio"])
def test_an_async_task_is_cancelled_on_timeout(kind: EngineKind) -> None:
    # Given an async task that would wait forever, and notes its cancellation
    cancelled = threading.Event()

    class Forever(sf.Task):
        async def execute(self) -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

    # When it outlives its timeout, then it fails with TaskTimeoutError and was cancelled
    engine = sf.load(sf.Linear("l", Forever("forever", timeout=0.05)), engine=kind)
    with pytest.raises(TaskTimeoutError) as caught:
        engine.run()
    assert isinstance(caught.value, TimeoutError)
    assert cancelled.wait(5)
    assert engine.storage.get_state("forever") is sf.AtomState.REVERTED


def test_many_async_tasks_in_flight_at_once_under_run_async() -> None:
    async def main() -> int:
        running = 0
        peak = 0

        class Sleepy(sf.Task):
            async def execute(self) -> None:
                nonlocal running, peak
                running += 1
                peak = max(peak, running)
                await asyncio.sleep(0.01)
                running -= 1

        await sf.run_async(sf.Unordered("u", *[Sleepy(f"s{i}") for i in range(1000)]))
        return peak

    assert asyncio.run(main()) == 1000

"""Map and Reduce: a width known only at run time, per-element state in Storage."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.engine import EngineKind
from steadyflow.errors import FailureGroup, InvalidAtomError
from steadyflow.failure import Failure


def _square(x: int, factor: int = 1) -> int:
    if x == 13:
        raise ValueError("unlucky")
    return x * x * factor


@pytest.mark.parametrize("kind", ["serial", "parallel", "asyncio"])
def test_map_then_reduce(kind: EngineKind) -> None:
    flow = sf.Linear(
        "mr",
        sf.Map(_square, over="numbers", provides="squares"),
        sf.Reduce(lambda total, x: total + x, over="squares", provides="total"),
    )
    results = sf.run(flow, {"numbers": [1, 2, 3], "factor": 2}, engine=kind)
    assert results == {"squares": [2, 8, 18], "total": 28}


def test_the_width_comes_from_the_run_not_the_declaration() -> None:
    flow = sf.Linear("m", sf.Map(_square, over="numbers", provides="squares"))
    assert sf.run(flow, {"numbers": []}) == {"squares": []}
    assert sf.run(flow, {"numbers": list(range(14, 64))})["squares"][-1] == 63 * 63


def test_reduce_with_an_initial_value() -> None:
    flow = sf.Linear(
        "r", sf.Reduce(lambda acc, x: [*acc, x], over="xs", provides="out", initial=[])
    )
    assert sf.run(flow, {"xs": []}) == {"out": []}


def test_a_failed_element_reverts_the_elements_that_ran() -> None:
    undone: list[tuple[int, Any]] = []

    def undo(x: int, result: Any) -> None:
        undone.append((x, result))

    flow = sf.Linear("m", sf.Map(sf.task(_square, revert=undo), over="numbers", provides="sq"))
    with pytest.raises(ValueError, match="unlucky"):
        sf.run(flow, {"numbers": [2, 13, 3]}, engine="parallel")
    assert sorted((x, r) for x, r in undone if not isinstance(r, Failure)) == [(2, 4), (3, 9)]
    assert [x for x, r in undone if isinstance(r, Failure)] == [13]


def test_several_failed_elements_make_one_group() -> None:
    def fail(x: int) -> None:
        raise ValueError(str(x))

    flow = sf.Linear("m", sf.Map(fail, over="xs", provides="ys"))
    with pytest.raises(FailureGroup) as caught:
        sf.run(flow, {"xs": [1, 2]}, engine="parallel", max_workers=2)
    assert sorted(str(e) for e in caught.value.exceptions) == ["1", "2"]


def test_each_element_retries_alone() -> None:
    calls: dict[int, int] = {}

    def flaky(x: int) -> int:
        calls[x] = calls.get(x, 0) + 1
        if x == 2 and calls[x] < 3:
            raise ValueError("again")
        return x

    atom = sf.Map(flaky, over="xs", provides="ys", retry=sf.retry.Times(3))
    engine = sf.load(sf.Linear("m", atom), {"xs": [1, 2, 3]}, engine="parallel")
    engine.run()
    assert engine.storage.fetch("ys") == [1, 2, 3]
    assert calls == {1: 1, 2: 3, 3: 1}
    meta = engine.storage.get_meta(atom.name)
    assert meta["element_attempts"] == [1, 3, 1]
    assert meta["elements"] == ["SUCCESS"] * 3
    assert engine.statistics().retries == 2


def test_a_resumed_run_redoes_only_unfinished_elements() -> None:
    # Given a map whose fourth element suspends the run
    calls: list[int] = []
    box: list[sf.Engine] = []

    def work(x: int) -> int:
        calls.append(x)
        if x == 3 and len(box) == 1:
            box[0].suspend()
        return -x

    atom = sf.Map(work, over="xs", provides="ys")
    engine = sf.load(sf.Linear("m", atom), {"xs": list(range(8))})
    box.append(engine)
    engine.run()
    # Then per-element progress is in the map's storage
    assert engine.state is sf.EngineState.SUSPENDED
    index = engine.storage.plan.by_name[atom.name]
    meta = engine.storage.meta[index]
    assert meta is not None
    assert meta["elements"][:4] == ["SUCCESS"] * 4
    assert engine.storage.results[index][:4] == [0, -1, -2, -3]
    box.append(engine)
    # When it resumes, then only the other elements run
    engine.run()
    assert calls == list(range(8))
    assert engine.storage.fetch("ys") == [-x for x in range(8)]


def test_async_elements_run_at_once_under_run_async() -> None:
    async def main() -> dict[str, Any]:
        barrier = asyncio.Barrier(20)

        async def fetch(url: str) -> int:
            async with asyncio.timeout(10):
                await barrier.wait()
            return len(url)

        flow = sf.Linear("m", sf.Map(fetch, over="urls", provides="sizes"))
        return await sf.run_async(flow, {"urls": ["x" * i for i in range(20)]})

    assert asyncio.run(main())["sizes"] == list(range(20))


def test_elements_overlap_on_threads() -> None:
    barrier = threading.Barrier(3)

    def meet(x: int) -> int:
        barrier.wait(10)
        return x

    flow = sf.Linear("m", sf.Map(meet, over="xs", provides="ys"))
    assert sf.run(flow, {"xs": [1, 2, 3]}, engine="parallel", max_workers=3) == {"ys": [1, 2, 3]}


def test_a_task_instance_can_be_mapped() -> None:
    class Greet(sf.Task):
        def execute(self, who: str, greeting: str) -> str:
            return f"{greeting} {who}"

    flow = sf.Linear("m", sf.Map(Greet("greet"), over="people", provides="lines"))
    out = sf.run(flow, {"people": ["ann", "bo"], "greeting": "hi"})
    assert out == {"lines": ["hi ann", "hi bo"]}


def test_map_needs_a_parameter_for_the_element() -> None:
    with pytest.raises(InvalidAtomError, match="element"):
        sf.Map(lambda: 1, over="xs", provides="ys", name="m")


def test_new_names_are_exported() -> None:
    assert {"Map", "Reduce"} <= set(sf.__all__)
    assert sf.Map is sf.mapreduce.Map
    assert "TimingListener" in sf.listeners.__all__

"""The parallel engine: independent atoms at once, ordered ones in order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

import steadyflow as sf
from steadyflow.engine import EngineKind
from steadyflow.errors import FailureGroup

from .conftest import Recorder, Step


class Meet(sf.Task):
    """Succeeds only if ``parties`` tasks are inside execute at the same time."""

    def __init__(self, name: str, barrier: threading.Barrier) -> None:
        super().__init__(name)
        self.barrier = barrier

    def execute(self) -> None:
        self.barrier.wait(timeout=10)


def test_branches_of_an_unordered_flow_overlap() -> None:
    # Given four tasks that can only finish together
    barrier = threading.Barrier(4)
    flow = sf.Unordered("u", *[Meet(f"m{i}", barrier) for i in range(4)])
    # When they run on four workers, then none times out at the barrier
    engine = sf.load(flow, engine="parallel", max_workers=4)
    engine.run()
    assert engine.statistics().states == {"SUCCESS": 4}


def test_branches_of_a_graph_overlap() -> None:
    barrier = threading.Barrier(2)

    def meet(x: int) -> None:
        barrier.wait(timeout=10)

    head = sf.task(lambda: 1, name="head", provides="x")
    left = sf.task(meet, name="left")
    right = sf.task(meet, name="right")
    flow = sf.Graph("g").add(head, left, right)
    sf.run(flow, engine="parallel", max_workers=2)


def test_a_linear_flow_stays_ordered(recorder: Recorder) -> None:
    flow = sf.Linear("l", *[Step(f"s{i}", recorder) for i in range(20)])
    sf.run(flow, engine="parallel", max_workers=8)
    assert recorder.names("execute") == [f"s{i}" for i in range(20)]


def test_a_given_executor_is_used_and_left_open() -> None:
    with ThreadPoolExecutor(2, thread_name_prefix="mine") as pool:
        seen: list[str] = []
        flow = sf.Unordered(
            "u",
            *[
                sf.task(lambda: seen.append(threading.current_thread().name), name=f"t{i}")
                for i in range(3)
            ],
        )
        sf.run(flow, engine="parallel", executor=pool)
        assert all(name.startswith("mine") for name in seen)
        assert pool.submit(lambda: 1).result() == 1  # still usable


def test_a_failed_branch_waits_for_running_siblings_then_reverts_all(recorder: Recorder) -> None:
    # Given a slow sibling still running when another branch fails
    release = threading.Event()
    failing_started = threading.Event()

    class Slow(Step):
        def execute(self) -> None:
            failing_started.wait(10)
            release.wait(10)
            super().execute()

    class FailFast(Step):
        def execute(self) -> None:
            failing_started.set()
            # The failure is recorded while Slow still runs; Slow is released after.
            threading.Timer(0.05, release.set).start()
            super().execute()

    flow = sf.Unordered(
        "u", Slow("slow", recorder), FailFast("bad", recorder, fail=True), Step("ok", recorder)
    )
    engine = sf.load(flow, engine="parallel", max_workers=4)
    # When it runs, then the original error comes out
    with pytest.raises(ValueError, match="bad failed"):
        engine.run()
    # and the slow sibling finished before anything was reverted, then all was reverted
    log = recorder.log
    assert log.index(("execute", "slow")) < min(i for i, (k, _) in enumerate(log) if k == "revert")
    assert sorted(recorder.names("revert")) == ["bad", "ok", "slow"]
    assert set(engine.storage.atom_states().values()) == {sf.AtomState.REVERTED}


def test_two_failures_at_once_are_both_reported(recorder: Recorder) -> None:
    barrier = threading.Barrier(2)

    class FailTogether(Step):
        def execute(self) -> None:
            barrier.wait(10)
            super().execute()

    flow = sf.Unordered(
        "u", FailTogether("a", recorder, fail=True), FailTogether("b", recorder, fail=True)
    )
    with pytest.raises(FailureGroup) as caught:
        sf.run(flow, engine="parallel", max_workers=2)
    assert sorted(str(e) for e in caught.value.exceptions) == ["a failed", "b failed"]
    assert isinstance(caught.value, ExceptionGroup)


def test_bad_max_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        sf.run(sf.Linear("l", sf.task(lambda: None, name="t")), engine="parallel", max_workers=0)


def test_an_unordered_flow_starts_in_declaration_order(recorder: Recorder) -> None:
    flow = sf.Unordered("u", *[Step(f"s{i}", recorder) for i in range(5)])
    sf.run(flow)
    assert recorder.names("execute") == [f"s{i}" for i in range(5)]


class _ProcessEnding(BaseException):
    """Stands for KeyboardInterrupt or SystemExit raised inside a task."""


@pytest.mark.parametrize("kind", ["serial", "parallel", "asyncio"])
def test_a_process_ending_exception_in_a_task_reaches_the_caller_untouched(
    kind: EngineKind,
) -> None:
    # Given a task that lets a BaseException through (as Ctrl-C would)
    @sf.task
    def interrupted() -> None:
        raise _ProcessEnding

    @sf.task
    def sibling() -> None:
        return None

    flow = sf.Unordered("interrupted", interrupted, sibling)
    engine = sf.load(flow, engine=kind)
    # When it runs, on every engine, then the exception escapes as it is, and
    # nothing is reverted: the run stopped as if the process had died
    run: Callable[[], None] = engine.run
    if kind == "asyncio":
        run = lambda: asyncio.run(engine.run_async())  # noqa: E731
    with pytest.raises(_ProcessEnding):
        run()
    assert engine.storage.get_state(interrupted.name) is sf.AtomState.RUNNING
    assert engine.state is sf.EngineState.UNDEFINED
    # And a later run resumes it, running the interrupted atom again
    calls: list[str] = []
    interrupted.fn = lambda: calls.append("again")
    run()
    assert sf.EngineState(engine.state) is sf.EngineState.SUCCESS  # a fresh read for mypy
    assert calls == ["again"]

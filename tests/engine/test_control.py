"""Control: suspend and resume, task and run timeouts, statistics."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.engine import EngineKind
from steadyflow.errors import RunTimeoutError, TaskTimeoutError

from .conftest import FakeClock, Recorder, Step


def _graph(recorder: Recorder, engine_box: list[sf.Engine]) -> sf.Graph:
    class Suspender(Step):
        def execute(self) -> None:
            super().execute()
            engine_box[0].suspend()

    a = Suspender("a", recorder, provides="x")
    b = Step("b", recorder, requires=None, rebind=None)
    c = Step("c", recorder)
    d = Step("d", recorder)
    graph = sf.Graph("g").add(a, b, c, d)
    return graph.link(a, b).link(b, d).link(c, d)


@pytest.mark.parametrize("kind", ["serial", "parallel"])
def test_suspend_in_the_middle_of_a_graph_then_resume(kind: EngineKind, recorder: Recorder) -> None:
    # Given a graph whose first atom asks the engine to suspend
    box: list[sf.Engine] = []
    engine = sf.load(_graph(recorder, box), engine=kind, max_workers=1)
    box.append(engine)
    # When it runs, then it ends SUSPENDED with the rest not started
    engine.run()
    assert engine.state is sf.EngineState.SUSPENDED
    assert engine.storage.flow_state is sf.FlowState.SUSPENDED
    assert engine.storage.get_state("a") is sf.AtomState.SUCCESS
    assert engine.storage.get_state("d") is sf.AtomState.PENDING
    done_before = list(recorder.names("execute"))
    # When it runs again, then it continues without redoing what succeeded
    engine.run()
    assert engine.statistics().flow_state is sf.FlowState.SUCCESS
    assert recorder.names("execute")[: len(done_before)] == done_before
    assert sorted(recorder.names("execute")) == ["a", "b", "c", "d"]


def test_suspend_from_a_listener(recorder: Recorder) -> None:
    flow = sf.Linear("l", *[Step(f"s{i}", recorder) for i in range(5)])
    engine = sf.load(flow)

    def on_event(event: sf.events.Event, details: Mapping[str, Any]) -> None:
        if details.get("atom_name") == "s1" and details.get("state") == "SUCCESS":
            engine.suspend()

    engine.notifier.register(sf.events.ATOM_STATE, on_event)
    engine.run()
    assert recorder.names("execute") == ["s0", "s1"]
    engine.run()
    assert recorder.names("execute") == [f"s{i}" for i in range(5)]


def test_suspend_from_another_thread_lets_running_atoms_finish(recorder: Recorder) -> None:
    started = threading.Event()
    release = threading.Event()

    class Hold(Step):
        def execute(self) -> None:
            started.set()
            release.wait(10)
            super().execute()

    flow = sf.Linear("l", Hold("hold", recorder), Step("after", recorder))
    engine = sf.load(flow, engine="parallel")
    runner = threading.Thread(target=engine.run)
    runner.start()
    assert started.wait(10)
    engine.suspend()
    release.set()
    runner.join(10)
    assert engine.state is sf.EngineState.SUSPENDED
    assert recorder.names("execute") == ["hold"]


@pytest.mark.parametrize("kind", ["serial", "parallel", "asyncio"])
def test_a_thread_task_timing_out_fails_promptly(kind: EngineKind, recorder: Recorder) -> None:
    # Given a synchronous task stuck until the test releases it
    release = threading.Event()
    try:

        class Stuck(Step):
            def execute(self) -> None:
                release.wait(30)

        flow = sf.Linear("l", Step("first", recorder), Stuck("stuck", recorder, timeout=0.05))
        engine = sf.load(flow, engine=kind)
        # When it times out, then the run fails with TaskTimeoutError without waiting
        # for the thread (the release only happens after run() returned)
        with pytest.raises(TaskTimeoutError, match="stuck"):
            engine.run()
        assert not release.is_set()
        assert recorder.names("revert") == ["stuck", "first"]
    finally:
        release.set()


def test_a_timed_out_task_is_retried_like_any_failure(recorder: Recorder) -> None:
    attempts: list[int] = []

    class SlowOnce(sf.Task):
        async def execute(self) -> None:
            attempts.append(1)
            if len(attempts) == 1:
                await asyncio.sleep(10)

    flow = sf.Linear("l", SlowOnce("slow", timeout=0.05), retry=sf.retry.Times(2))
    sf.run(flow, engine="parallel")
    assert len(attempts) == 2


@pytest.mark.parametrize("kind", ["parallel", "asyncio"])
def test_a_run_timeout_reverts_and_raises(kind: EngineKind, recorder: Recorder) -> None:
    release = threading.Event()
    try:

        class Stuck(Step):
            def execute(self) -> None:
                super().execute()
                release.wait(30)

        flow = sf.Unordered("u", Step("quick", recorder), Stuck("stuck", recorder))
        engine = sf.load(flow, engine=kind)
        with pytest.raises(RunTimeoutError, match=r"timeout of 0\.1 s"):
            engine.run(timeout=0.1)
        assert engine.storage.flow_state is sf.FlowState.REVERTED
        assert sorted(recorder.names("revert")) == ["quick", "stuck"]
    finally:
        release.set()


def test_a_run_timeout_with_a_fake_clock_covers_backoff_waits(clock: FakeClock) -> None:
    # Given a retry whose backoff alone exceeds the run's time budget
    flow = sf.Linear(
        "l",
        sf.task(lambda: 1 / 0, name="bad"),
        retry=sf.retry.Times(5, delay=10),
    )
    engine = sf.load(flow, clock=clock)
    # Then the error states the limit
    with pytest.raises(RunTimeoutError, match=r"'l' did not finish within its timeout of 15 s"):
        engine.run(timeout=15)
    assert clock.now == pytest.approx(15)


def test_bad_run_timeout_is_refused() -> None:
    engine = sf.load(sf.Linear("l", sf.task(lambda: None, name="t")))
    with pytest.raises(ValueError, match="timeout"):
        engine.run(timeout=0)


def test_statistics_count_states_time_and_retries(clock: FakeClock) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("not yet")

    flow = sf.Linear("l", sf.task(flaky), sf.task(lambda: None, name="b"), retry=sf.retry.Times(3))
    engine = sf.load(flow, clock=clock)
    engine.run()
    stats = engine.statistics()
    assert stats.states == {"SUCCESS": 3}
    assert stats.atoms == 3
    assert stats.retries == 2
    assert stats.elapsed > 0
    assert stats.flow_state is sf.FlowState.SUCCESS


def test_suspend_interrupts_a_backoff_wait() -> None:
    # Given a flow waiting out a one-hour backoff on the real clock
    calls: list[int] = []
    engine: list[sf.Engine] = []

    def fail_then_suspend() -> None:
        calls.append(1)
        if len(calls) == 1:
            threading.Timer(0.05, engine[0].suspend).start()
            raise ValueError("first attempt fails")

    flow = sf.Linear("l", sf.task(fail_then_suspend), retry=sf.retry.Times(2, delay=3600))
    engine.append(sf.load(flow))
    # When suspend() is called during the wait, then the run ends SUSPENDED at once
    engine[0].run()
    assert engine[0].state is sf.EngineState.SUSPENDED
    # and the next run starts the new attempt without waiting again
    engine[0].run()
    assert calls == [1, 1]
    assert engine[0].storage.flow_state is sf.FlowState.SUCCESS


def test_run_iter_of_an_asyncio_engine_runs_async_tasks() -> None:
    async def value() -> int:
        await asyncio.sleep(0)
        return 3

    engine = sf.load(sf.Linear("l", sf.task(value, provides="v")), engine="asyncio")
    states = list(engine.run_iter())
    assert states[-1] is sf.EngineState.SUCCESS
    assert engine.storage.fetch("v") == 3


def test_a_sync_task_timeout_counts_from_its_start_under_asyncio() -> None:
    # Given one worker thread, busy 0.3 s with "first", and a quick task with a
    # 0.2 s timeout queued behind it
    class Busy(sf.Task):
        def execute(self) -> None:
            threading.Event().wait(0.3)

    class Quick(sf.Task):
        def execute(self) -> None:
            return None

    flow = sf.Unordered("u", Busy("first"), Quick("queued", timeout=0.2))

    # When it runs, then the time spent waiting for the thread does not count
    async def main() -> None:
        await sf.run_async(flow, max_workers=1)

    asyncio.run(main())


def test_suspend_interrupts_a_backoff_wait_under_run_async() -> None:
    calls: list[int] = []
    engine: list[sf.Engine] = []

    def fail_then_suspend() -> None:
        calls.append(1)
        if len(calls) == 1:
            threading.Timer(0.05, engine[0].suspend).start()
            raise ValueError("first attempt fails")

    flow = sf.Linear("l", sf.task(fail_then_suspend), retry=sf.retry.Times(2, delay=3600))
    engine.append(sf.load(flow, engine="asyncio"))
    asyncio.run(engine[0].run_async())
    assert engine[0].state is sf.EngineState.SUSPENDED
    asyncio.run(engine[0].run_async())
    assert calls == [1, 1]

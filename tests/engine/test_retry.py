"""Retry controllers: decisions, history, nesting, backoff on an injected clock."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.retry import RETRY, REVERT, History, Times

from .conftest import FakeClock, Recorder, Step


def _flaky(failures: int, name: str = "flaky") -> tuple[sf.FunctionTask[[], int], list[int]]:
    calls: list[int] = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) <= failures:
            raise ValueError(f"attempt {len(calls)}")
        return len(calls)

    return sf.task(flaky, name=name, provides="value"), calls


def test_times_retries_until_success() -> None:
    task, _calls = _flaky(2)
    assert sf.run(sf.Linear("l", task, retry=Times(3))) == {"value": 3}


def test_a_retry_that_gives_up_after_backoff(clock: FakeClock) -> None:
    # Given a task that always fails, with delay 1 s doubling up to 3 s
    task, calls = _flaky(100)
    flow = sf.Linear("l", task, retry=Times(4, delay=1, backoff=2, max_delay=3))
    engine = sf.load(flow, clock=clock)
    # When it runs, then it waits 1, 2, 3 s between its 4 attempts, then gives up
    with pytest.raises(ValueError, match="attempt 4"):
        engine.run()
    assert clock.sleeps == [1, 2, 3]
    assert len(calls) == 4
    assert engine.storage.flow_state is sf.FlowState.REVERTED
    assert len(engine.storage.get_history("l.retry")) == 4


def test_jitter_spreads_delays_reproducibly_with_a_seed() -> None:
    retry = Times(5, delay=10, jitter=0.5)
    delays = [retry.delay_for(1, random.Random(7)) for _ in range(3)]
    assert len(set(delays)) == 1
    assert 5 <= delays[0] <= 15
    assert retry.delay_for(1, random.Random(8)) != delays[0]


def test_backoff_wait_does_not_block_other_branches(clock: FakeClock, recorder: Recorder) -> None:
    # Given a retried branch waiting out a long backoff and an independent branch
    task, calls = _flaky(1)
    seen_time: list[float] = []

    def other() -> None:
        seen_time.append(clock.now)

    flow = sf.Unordered(
        "u",
        sf.Linear("retried", task, retry=Times(2, delay=100)),
        sf.Linear("other", sf.task(lambda: None, name="o1"), sf.task(other, name="o2")),
    )
    sf.run(flow, engine="parallel", clock=clock)
    # Then the other branch ran before the backoff elapsed
    assert seen_time
    assert seen_time[0] < 100
    assert len(calls) == 2


def test_on_limits_what_is_retried() -> None:
    task, calls = _flaky(100)
    flow = sf.Linear("l", task, retry=Times(5, on=(KeyError,)))
    with pytest.raises(ValueError):
        sf.run(flow)
    assert len(calls) == 1


def test_for_each_provides_each_value_until_one_works() -> None:
    tried: list[str] = []

    def connect(host: str) -> str:
        tried.append(host)
        if host != "c":
            raise ConnectionError(host)
        return host

    flow = sf.Linear(
        "l",
        sf.task(connect, name="connect", provides="used"),
        retry=sf.retry.ForEach(["a", "b", "c"], provides="host"),
    )
    engine = sf.load(flow)
    engine.run()
    assert tried == ["a", "b", "c"]
    history = engine.storage.get_history("l.retry")
    assert history.values() == ["a", "b", "c"]
    assert [sorted(attempt.failures) for attempt in history] == [["connect"], ["connect"], []]


def test_parameterized_for_each_reads_values_by_rebind() -> None:
    def connect(host: str) -> str:
        if host == "bad":
            raise ConnectionError(host)
        return host

    flow = sf.Linear(
        "l",
        sf.task(connect, provides="used"),
        retry=sf.retry.ParameterizedForEach(rebind={"values": "hosts"}, provides="host"),
    )
    assert sf.run(flow, {"hosts": ["bad", "good"]})["used"] == "good"


def test_always_revert_hands_the_failure_outward(recorder: Recorder) -> None:
    inner = sf.Linear("inner", Step("i", recorder, fail=True), retry=sf.retry.AlwaysRevert())
    outer = sf.Linear("outer", Step("o", recorder), inner, retry=Times(2))
    engine = sf.load(outer)
    with pytest.raises(ValueError):
        engine.run()
    assert recorder.names("execute") == ["o", "i", "o", "i"]


def test_always_revert_all_ignores_outer_controllers(recorder: Recorder) -> None:
    inner = sf.Linear("inner", Step("i", recorder, fail=True), retry=sf.retry.AlwaysRevertAll())
    outer = sf.Linear("outer", Step("o", recorder), inner, retry=Times(5))
    with pytest.raises(ValueError):
        sf.run(outer)
    assert recorder.names("execute") == ["o", "i"]


def test_nested_inner_gives_up_then_outer_retries(recorder: Recorder) -> None:
    # Given an inner flow retried twice inside an outer flow retried twice
    inner = sf.Linear("inner", Step("i", recorder, fail=True), retry=Times(2))
    outer = sf.Linear("outer", Step("o", recorder), inner, retry=Times(2))
    engine = sf.load(outer)
    with pytest.raises(ValueError):
        engine.run()
    # Then each outer attempt runs the inner flow twice
    assert recorder.names("execute") == ["o", "i", "i", "o", "i", "i"]
    # and the outer history records the failure the inner controller handed over
    outer_history = engine.storage.get_history("outer.retry")
    assert [sorted(a.failures) for a in outer_history] == [["i"], ["i"]]


def test_a_custom_controller_sees_the_history() -> None:
    seen: list[int] = []

    class TwiceThenStop(sf.Retry):
        def execute(self, history: History, **kwargs: Any) -> int:
            return len(history) * 10

        def on_failure(self, history: History, **kwargs: Any) -> sf.retry.Decision:
            seen.append(len(history))
            return RETRY if len(history) < 2 else REVERT

    def use(factor: int) -> None:
        raise ValueError(str(factor))

    flow = sf.Linear("l", sf.task(use), retry=TwiceThenStop(provides="factor"))
    with pytest.raises(ValueError, match="10"):
        sf.run(flow)
    assert seen == [1, 2]


def test_two_unnamed_controllers_get_their_flows_names() -> None:
    inner = sf.Linear("inner", sf.task(lambda: None, name="t"), retry=Times(2))
    outer = sf.Linear("outer", inner, retry=Times(2))
    engine = sf.load(outer)
    engine.run()
    assert set(engine.storage.atom_states()) == {"outer.retry", "inner.retry", "t"}


def test_atoms_that_became_ready_outside_a_retried_scope_still_run() -> None:
    # Given a retried scope that fails while an independent branch is still running
    import threading

    failure_seen = threading.Event()
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first attempt")

    def slow() -> int:
        assert failure_seen.wait(5)  # finishes only once the engine saw the failure
        return 1

    flow = sf.Unordered(
        "top",
        sf.Linear("inner", sf.task(flaky, name="flaky"), retry=Times(3)),
        sf.Linear(
            "branch",
            sf.task(slow, name="slow", provides="s"),
            sf.task(lambda s: None, name="after"),
        ),
    )
    engine = sf.load(flow, engine="parallel", max_workers=2)

    def on_state(event: sf.events.Event, details: Mapping[str, Any]) -> None:
        if details.get("atom_name") == "flaky" and details["state"] is sf.AtomState.FAILURE:
            failure_seen.set()

    engine.notifier.register(sf.events.ATOM_STATE, on_state)
    # When it runs, so that "after" is released while the scope is being reverted
    engine.run()
    # Then the scope was retried and the branch finished too
    assert len(attempts) == 2
    assert engine.storage.get_state("after") is sf.AtomState.SUCCESS


def test_a_controller_without_on_failure_is_refused_when_declared() -> None:
    class Forgetful(sf.Retry):
        pass

    with pytest.raises(sf.errors.InvalidAtomError, match=r"Forgetful must define on_failure\(\)"):
        Forgetful()

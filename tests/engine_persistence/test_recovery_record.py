"""The recovery record across a stop, and batched writes that fail, on every backend."""

from __future__ import annotations

import time
import types
from collections.abc import Callable
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.engine import Clock, _recovery
from steadyflow.errors import BackendUnavailableError
from steadyflow.persistence import Backend
from steadyflow.states import AtomState, EngineState, FlowState

from ._flows import Journal, chain
from .conftest import Opener


class FakeClock(Clock):
    """Time that moves only when the engine sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _stop_when(engine: sf.Engine, waiting: Callable[[sf.Engine], bool]) -> None:
    """Run until the engine waits with ``waiting(engine)`` true, then stop as a dying
    process would (what the loop flushed before waiting is all the store has)."""
    for state in engine.run_iter():
        if state is EngineState.WAITING and waiting(engine):
            break
    else:
        raise AssertionError("the run ended before the expected wait")
    engine.close()


def _half_an_hour_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the wall clock the recovery record reads run 30 minutes ahead."""
    later = types.SimpleNamespace(time=lambda: time.time() + 1800)
    monkeypatch.setattr(_recovery, "time", later)


def test_a_resumed_run_waits_only_what_is_left_of_a_backoff(
    reopen: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a scope retried after an hour, stopped while it waits
    calls: list[int] = []

    @sf.task(name="flaky")
    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first attempt fails")

    def flow() -> sf.Linear:
        return sf.Linear("backoff", flaky, retry=sf.retry.Times(2, "again", delay=3600))

    _stop_when(
        sf.load(flow(), backend=reopen(), flow_id="backoff"),
        lambda e: e.storage.get_state("again") is AtomState.RETRYING,
    )
    # When another engine resumes it half an hour later
    _half_an_hour_later(monkeypatch)
    clock = FakeClock()
    with sf.load(flow(), backend=reopen(), flow_id="backoff", clock=clock) as engine:
        engine.run()
    # Then it waited out the rest of the hour before the retry: neither nothing nor an hour
    assert clock.sleeps
    assert 1000 < clock.sleeps[0] < 2000
    assert len(calls) == 2
    assert engine.storage.flow_state is FlowState.SUCCESS


def test_element_retry_histories_and_timers_survive_a_stop(
    reopen: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a map whose element 0 always fails, two attempts allowed, an hour apart,
    # stopped while element 0 waits for its second attempt
    calls: list[int] = []

    def element(x: int) -> int:
        calls.append(x)
        if x == 0:
            raise RuntimeError("element 0 always fails")
        return x

    def flow() -> sf.Linear:
        retry = sf.retry.Times(2, delay=3600)
        return sf.Linear("elements", sf.Map(element, over="xs", name="m", retry=retry))

    store = {"xs": [0, 1]}
    _stop_when(
        sf.load(flow(), store=store, backend=reopen(), flow_id="el"),
        lambda e: e.storage.get_meta("m")["elements"][0] == AtomState.FAILURE.value,
    )
    # When another engine resumes it half an hour later
    _half_an_hour_later(monkeypatch)
    clock = FakeClock()
    with (
        sf.load(flow(), store=store, backend=reopen(), flow_id="el", clock=clock) as engine,
        pytest.raises(RuntimeError, match="always fails"),
    ):
        engine.run()
    # Then element 0 got exactly its two attempts, the second after the rest of the hour
    assert calls.count(0) == 2
    assert 1000 < clock.sleeps[0] < 2000
    assert engine.storage.flow_state is FlowState.REVERTED


def _failing(method: Callable[..., Any], failures: int) -> Callable[..., Any]:
    """``method``, raising BackendUnavailableError on its first ``failures`` calls."""
    left = [failures]

    def call(*args: Any, **kwargs: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise BackendUnavailableError("the store blinked")
        return method(*args, **kwargs)

    return call


def _make_flaky(backend: Backend, failures: int) -> None:
    backend.save_atom_details = _failing(backend.save_atom_details, failures)  # type: ignore[method-assign]
    backend.save_flow_detail = _failing(backend.save_flow_detail, 1)  # type: ignore[method-assign]


def test_batched_writes_survive_a_transient_error(backend: Backend) -> None:
    # Given a batched run whose store fails a few writes once
    names = [f"t{i}" for i in range(30)]
    engine = sf.load(
        chain(Journal(), names), store={"start": 0}, backend=backend, durability="batched"
    )
    engine.prepare()
    _make_flaky(backend, failures=2)
    # When it runs, Then it finishes and the store holds every change
    engine.run()
    stored = backend.get_flow_detail(engine.flow_id)
    assert stored.state is FlowState.SUCCESS
    assert all(stored.atoms[name].state is AtomState.SUCCESS for name in names)


def test_a_write_that_never_succeeds_stops_the_run(backend: Backend) -> None:
    # Given a batched run whose store refuses every write after the flow was created
    engine = sf.load(
        chain(Journal(), ["a", "b"]), store={"start": 0}, backend=backend, durability="batched"
    )
    engine.prepare()
    _make_flaky(backend, failures=10**6)
    backend.save_flow_detail = _failing(backend.save_flow_detail, 10**6)  # type: ignore[method-assign]
    # When it runs, Then the run stops with the store's error instead of losing changes
    with pytest.raises(BackendUnavailableError):
        engine.run()

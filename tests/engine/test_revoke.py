"""engine.revoke(): stop starting atoms, give up on (or wait for) running ones, undo the rest."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.errors import FlowRevokedError
from steadyflow.states import AtomState, EngineState, FlowState


class Log:
    """What tasks did, in order, from their own side (thread-safe appends)."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def add(self, event: str, name: str) -> None:
        with self.lock:
            self.entries.append((event, name))

    def names(self, event: str) -> list[str]:
        return [name for kind, name in self.entries if kind == event]


class Step(sf.Task):
    """Logs execute and revert; ``hold`` makes execute wait for an event first."""

    def __init__(
        self,
        name: str,
        log: Log,
        *,
        hold: threading.Event | None = None,
        started: threading.Barrier | None = None,
        fail: bool = False,
    ) -> None:
        super().__init__(name)
        self.log = log
        self.hold = hold
        self.started = started
        self.fail = fail

    def execute(self) -> str:
        self.log.add("execute", self.name)
        if self.started is not None:
            self.started.wait(timeout=10)
        if self.hold is not None:
            self.hold.wait(timeout=10)
        if self.fail:
            raise RuntimeError(f"{self.name} failed")
        self.log.add("done", self.name)
        return self.name

    def revert(self, *, result: Any, flow_failures: Any) -> None:
        self.log.add("revert", self.name)


class Revoker(sf.Task):
    """Revokes its own run from inside, as a task may."""

    def __init__(self, name: str, log: Log, box: list[sf.Engine], **revoke: Any) -> None:
        super().__init__(name)
        self.log = log
        self.box = box
        self.revoke_options = revoke

    def execute(self) -> None:
        self.log.add("execute", self.name)
        self.box[0].revoke("stop it", **self.revoke_options)

    def revert(self) -> None:
        self.log.add("revert", self.name)


def _fan_out(log: Log, hold: threading.Event, started: threading.Barrier) -> sf.Flow:
    """A task, then three branches that block until ``hold``, then a last task."""
    branches = sf.Unordered(
        "branches", *[Step(f"b{i}", log, hold=hold, started=started) for i in range(3)]
    )
    return sf.Linear("fan", Step("first", log), branches, Step("last", log))


@pytest.mark.parametrize("wait", [False, True])
def test_revoke_during_a_parallel_fan_out_reverts_everything_once(wait: bool) -> None:
    # Given a fan-out whose three branches are running (all inside execute)
    log, hold = Log(), threading.Event()
    started = threading.Barrier(4)
    engine = sf.load(_fan_out(log, hold, started), engine="parallel", max_workers=4)
    runner = threading.Thread(target=lambda: _run_catching(engine, errors))
    errors: list[BaseException] = []
    runner.start()
    started.wait(timeout=10)
    # When another thread revokes the run (waiting for the running branches or not),
    # and the branches are let go once the revoke is asked for
    engine.revoke("operator said so", wait=wait, requested_by="ops")
    hold.set()
    runner.join(timeout=10)
    # Then nothing new started, and everything that ran is reverted exactly once
    assert sorted(log.names("execute")) == ["b0", "b1", "b2", "first"]
    assert sorted(log.names("revert")) == ["b0", "b1", "b2", "first"]
    assert log.names("revert")[-1] == "first"  # reverse order: the branches first
    if wait:
        assert sorted(log.names("done")) == ["b0", "b1", "b2", "first"]
        states = {engine.storage.get_state(f"b{i}") for i in range(3)}
        assert states == {AtomState.REVERTED}
    # And the run raised the revoke with its reason and who asked
    assert len(errors) == 1
    error = errors[0]
    assert isinstance(error, FlowRevokedError)
    assert (error.reason, error.requested_by) == ("operator said so", "ops")
    assert engine.state is EngineState.REVERTED
    assert engine.storage.flow_state is FlowState.REVERTED
    assert engine.storage.get_state("last") is AtomState.PENDING


def _run_catching(engine: sf.Engine, errors: list[BaseException]) -> None:
    try:
        engine.run()
    except BaseException as exc:
        errors.append(exc)


@pytest.mark.parametrize("kind", ["serial", "parallel", "asyncio"])
def test_a_task_can_revoke_its_own_run(kind: str) -> None:
    # Given a chain whose second task revokes the run it belongs to
    log, box = Log(), list[sf.Engine]()
    flow = sf.Linear("chain", Step("a", log), Revoker("r", log, box), Step("c", log))
    engine = sf.load(flow, engine=kind)  # type: ignore[arg-type]
    box.append(engine)
    # When it runs, then it raises the revoke once the completed tasks are undone
    with pytest.raises(FlowRevokedError, match="stop it"):
        engine.run()
    assert log.names("execute") == ["a", "r"]
    assert log.names("revert") == ["r", "a"]


def test_raise_error_false_makes_the_revoked_run_return() -> None:
    # Given a task that revokes its run, asking for no error
    log, box = Log(), list[sf.Engine]()
    flow = sf.Linear("chain", Step("a", log), Revoker("r", log, box, raise_error=False))
    engine = sf.load(flow)
    box.append(engine)
    # When it runs, then it returns normally, REVERTED
    engine.run()
    assert engine.state is EngineState.REVERTED
    assert log.names("revert") == ["r", "a"]


def test_a_listener_can_revoke_and_retry_controllers_are_not_asked() -> None:
    # Given a retried flow, and a listener that revokes once "a" succeeded
    log = Log()
    asked: list[object] = []

    class Counting(sf.retry.Times):
        def on_failure(self, history: Any, **kwargs: Any) -> Any:
            asked.append(history)
            return super().on_failure(history=history, **kwargs)

    flow = sf.Linear("f", Step("a", log), Step("b", log), retry=Counting(3))
    engine = sf.load(flow)

    def on_event(event: sf.events.Event, details: Mapping[str, Any]) -> None:
        if details.get("atom_name") == "a" and details.get("state") is AtomState.SUCCESS:
            engine.revoke("enough")

    engine.notifier.register(sf.events.Event.ATOM_STATE, on_event)
    # When it runs, then b never starts, a is reverted, and no controller was asked
    with pytest.raises(FlowRevokedError):
        engine.run()
    assert log.names("execute") == ["a"]
    assert log.names("revert") == ["a"]
    assert asked == []


def test_revoke_of_a_finished_engine_undoes_it_on_the_next_run() -> None:
    # Given a flow that ran to SUCCESS
    log = Log()
    engine = sf.load(sf.Linear("f", Step("a", log), Step("b", log)))
    engine.run()
    # When it is revoked and run again
    engine.revoke("undo the provisioning", raise_error=False)
    engine.run()
    # Then what it did is undone, in reverse order, and nothing ran again
    assert log.names("execute") == ["a", "b"]
    assert log.names("revert") == ["b", "a"]
    assert engine.storage.flow_state is FlowState.REVERTED
    assert not engine.revoke_requested


def test_revoke_racing_a_failure_reverts_once_and_ends_revoked() -> None:
    # Given two branches: one fails while the other is held, and the run is revoked
    # before the held one finishes (so the failure's revert and the revoke meet)
    log, hold = Log(), threading.Event()
    started = threading.Barrier(3)
    flow = sf.Linear(
        "race",
        Step("first", log),
        sf.Unordered(
            "u",
            Step("bad", log, started=started, fail=True),
            Step("slow", log, hold=hold, started=started),
        ),
    )
    engine = sf.load(flow, engine="parallel", max_workers=2)
    errors: list[BaseException] = []
    runner = threading.Thread(target=lambda: _run_catching(engine, errors))
    runner.start()
    started.wait(timeout=10)
    # When the revoke is asked for, then the held branch is let go
    engine.revoke("race", wait=True)
    hold.set()
    runner.join(timeout=10)
    # Then every task that ran is reverted exactly once
    assert sorted(log.names("revert")) == ["bad", "first", "slow"]
    # And the run ends revoked, carrying the failure that happened meanwhile
    assert len(errors) == 1
    error = errors[0]
    assert isinstance(error, FlowRevokedError)
    assert [f.message for f in error.failures] == ["bad failed"]
    assert engine.storage.flow_state is FlowState.REVERTED


def test_a_revoke_gets_a_clear_error_for_a_bad_reason() -> None:
    engine = sf.load(sf.Linear("f", Step("a", Log())))
    with pytest.raises(TypeError, match="revoke reason must be a string"):
        engine.revoke(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="requested_by must be a string"):
        engine.revoke("x", requested_by=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["parallel", "asyncio"])
def test_revoke_ends_a_backoff_wait_and_no_retry_follows(kind: str) -> None:
    # Given a retried flow whose task failed once and now waits out a long backoff
    log = Log()
    failed_once = threading.Event()

    class FailsOnce(sf.Task):
        def execute(self) -> None:
            log.add("execute", self.name)
            if not failed_once.is_set():
                failed_once.set()
                raise RuntimeError("first attempt fails")

        def revert(self) -> None:
            log.add("revert", self.name)

    flow = sf.Linear("f", Step("a", log), FailsOnce("b"), retry=sf.retry.Times(3, delay=600))
    engine = sf.load(flow, engine=kind)  # type: ignore[arg-type]
    errors: list[BaseException] = []
    runner = threading.Thread(target=lambda: _run_catching(engine, errors))
    runner.start()
    failed_once.wait(timeout=10)
    # When the run is revoked during the backoff
    for _ in range(1000):
        if engine.storage.get_state("f.retry") is AtomState.RETRYING:
            break
        failed_once.wait(0.01)
    engine.revoke("no more attempts")
    runner.join(timeout=30)
    # Then the run ends at once, revoked, without another attempt
    assert not runner.is_alive()
    assert [type(e) for e in errors] == [FlowRevokedError]
    assert log.names("execute") == ["a", "b"]
    assert sorted(log.names("revert")) == ["a", "b"]

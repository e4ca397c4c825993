"""OpenTelemetryListener: span trees, attributes, links and statuses, checked on real runs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any, cast

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

import steadyflow as sf
from steadyflow.engine.options import EngineKind
from steadyflow.listeners import OpenTelemetryListener

from ._traces import Traces


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _assert_child_of(child: ReadableSpan, parent: ReadableSpan) -> None:
    assert child.context is not None
    assert parent.context is not None
    assert child.context.trace_id == parent.context.trace_id
    assert _parent_id(child) == parent.context.span_id
    assert child.start_time is not None
    assert child.end_time is not None
    assert parent.start_time is not None
    assert parent.end_time is not None
    assert parent.start_time <= child.start_time <= child.end_time <= parent.end_time


class KeyedStep(sf.Task):
    """Records the idempotency key it ran under; overlaps its siblings a little."""

    def __init__(self, name: str, keys: dict[str, str]) -> None:
        super().__init__(name)
        self.keys = keys

    def execute(self) -> None:
        self.keys[self.name] = sf.current_context().idempotency_key
        time.sleep(0.02)


@pytest.mark.parametrize("kind", ["serial", "parallel", "asyncio"])
def test_every_atom_span_is_a_child_of_the_flow_run_span(traces: Traces, kind: EngineKind) -> None:
    # Given four independent tasks, and an ambient span around the run
    keys: dict[str, str] = {}
    flow = sf.Unordered("u", *(KeyedStep(f"t{i}", keys) for i in range(4)))
    engine = sf.load(flow, engine=kind, max_workers=4)
    outer_tracer = traces.provider.get_tracer("app")
    # When the run is traced
    with (
        outer_tracer.start_as_current_span("request") as outer,
        OpenTelemetryListener(engine, tracer_provider=traces.provider),
    ):
        engine.run()
    # Then the flow-run span is a child of the ambient span
    run = traces.one("run u")
    assert _parent_id(run) == outer.get_span_context().span_id
    assert _attrs(run) == {
        "steadyflow.flow.id": engine.flow_id,
        "steadyflow.flow.name": "u",
        "steadyflow.flow.state": "SUCCESS",
        "steadyflow.flow.resumed": False,
        "steadyflow.engine.kind": kind,
    }
    assert run.status.status_code is StatusCode.OK
    # And each task's span is the run span's child (not the ambient span's), with its identity
    for i in range(4):
        span = traces.one(f"execute t{i}")
        _assert_child_of(span, run)
        assert _attrs(span) == {
            "steadyflow.flow.id": engine.flow_id,
            "steadyflow.atom.name": f"t{i}",
            "steadyflow.atom.kind": "task",
            "steadyflow.atom.phase": "execute",
            "steadyflow.atom.attempt": 1,
            "steadyflow.atom.idempotency_key": keys[f"t{i}"],
            "steadyflow.atom.state": "SUCCESS",
        }
        assert span.status.status_code is StatusCode.OK
    assert len(traces.spans) == 6


def test_run_async_traces_async_tasks_under_the_flow_span(traces: Traces) -> None:
    # Given async tasks run by run_async on the caller's loop
    @sf.task(name="a")
    async def a() -> int:
        await asyncio.sleep(0.01)
        return 1

    @sf.task(name="b")
    async def b() -> int:
        await asyncio.sleep(0.01)
        return 2

    engine = sf.load(sf.Unordered("au", a, b), engine="asyncio")

    async def main() -> None:
        with OpenTelemetryListener(engine, tracer_provider=traces.provider):
            await engine.run_async()

    # When it runs
    asyncio.run(main())
    # Then both atom spans hang under the one run span
    run = traces.one("run au")
    for name in ("a", "b"):
        _assert_child_of(traces.one(f"execute {name}"), run)


def test_spans_go_to_the_global_provider_by_default_under_the_given_name(traces: Traces) -> None:
    # Given the in-memory provider set as the global one (once per process)
    trace.set_tracer_provider(traces.provider)
    if trace.get_tracer_provider() is not traces.provider:
        pytest.skip("another test set the global tracer provider first")
    engine = sf.load(sf.Linear("g", sf.task(lambda: None, name="t")))
    # When the listener is given no provider, and a name of its own
    with OpenTelemetryListener(engine, name="billing"):
        engine.run()
    # Then its spans reach the global provider, under that instrumentation scope
    span = traces.one("execute t")
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "billing"
    assert span.instrumentation_scope.version == sf.__version__


def test_a_bad_name_is_refused() -> None:
    engine = sf.load(sf.Linear("l", sf.task(lambda: None, name="t")))
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        OpenTelemetryListener(engine, name="")


class Flaky(sf.Task):
    """Fails its first ``failures`` attempts, recording each attempt's key."""

    def __init__(self, name: str, failures: int) -> None:
        super().__init__(name)
        self.failures = failures
        self.keys: list[str] = []

    def execute(self) -> str:
        self.keys.append(sf.current_context().idempotency_key)
        if len(self.keys) <= self.failures:
            raise ValueError(f"boom {len(self.keys)}")
        return "ok"


@pytest.mark.parametrize("kind", ["serial", "parallel", "asyncio"])
def test_each_retry_is_a_span_of_its_own_linked_to_the_first(
    traces: Traces, kind: EngineKind
) -> None:
    # Given a task that fails twice under a controller that allows three attempts
    flaky = Flaky("b", failures=2)
    flow = sf.Linear("r", flaky, retry=sf.retry.Times(3))
    engine = sf.load(flow, engine=kind)
    # When the run is traced
    with OpenTelemetryListener(engine, tracer_provider=traces.provider):
        engine.run()
    # Then there are three execute spans of b, one per attempt, each with its own key
    run = traces.one("run r")
    attempts = sorted(traces.named("execute b"), key=lambda s: _attrs(s)["steadyflow.atom.attempt"])
    assert [_attrs(s)["steadyflow.atom.attempt"] for s in attempts] == [1, 2, 3]
    assert [_attrs(s)["steadyflow.atom.idempotency_key"] for s in attempts] == flaky.keys
    for span in attempts:
        _assert_child_of(span, run)
    # And the later attempts link to the first
    first = attempts[0].context
    assert first is not None
    assert attempts[0].links == ()
    for span in attempts[1:]:
        assert [link.context.span_id for link in span.links] == [first.span_id]
        assert [_attrs_of_link(link) for link in span.links] == [
            {"steadyflow.link": "first_attempt"}
        ]
    # And the failed attempts say why, as an exception event and an ERROR status
    for number, span in enumerate(attempts[:2], start=1):
        assert _attrs(span)["steadyflow.atom.state"] == "FAILURE"
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == f"ValueError: boom {number}"
        (event,) = span.events
        assert event.name == "exception"
        assert _attrs_of_event(event)["exception.type"] == "builtins.ValueError"
        assert _attrs_of_event(event)["exception.message"] == f"boom {number}"
        assert "ValueError: boom" in _attrs_of_event(event)["exception.stacktrace"]
    assert attempts[2].status.status_code is StatusCode.OK
    # And the run span notes each decision to retry
    retrying = [e for e in run.events if e.name == "steadyflow.atom.retrying"]
    assert [_attrs_of_event(e)["steadyflow.atom.name"] for e in retrying] == ["r.retry"] * 2


def _attrs_of_link(link: Any) -> dict[str, Any]:
    return dict(link.attributes or {})


def _attrs_of_event(event: Any) -> dict[str, Any]:
    return dict(event.attributes or {})


class Undoable(sf.Task):
    def __init__(self, name: str, *, fail: bool = False, fail_revert: bool = False) -> None:
        super().__init__(name)
        self.fail = fail
        self.fail_revert = fail_revert

    def execute(self) -> int:
        if self.fail:
            raise KeyError("no such vm")
        return 1

    def revert(self, **kwargs: Any) -> None:
        if self.fail_revert:
            raise OSError("cannot delete")


@pytest.mark.parametrize("kind", ["serial", "parallel"])
def test_reverts_are_spans_linked_to_the_execute_they_undo(
    traces: Traces, kind: EngineKind
) -> None:
    # Given a flow whose second task fails
    flow = sf.Linear("f", Undoable("a"), Undoable("b", fail=True))
    engine = sf.load(flow, engine=kind)
    # When the traced run reverts
    with (
        pytest.raises(KeyError),
        OpenTelemetryListener(engine, tracer_provider=traces.provider),
    ):
        engine.run()
    # Then each task has an execute span and a revert span, the revert linked to the execute
    run = traces.one("run f")
    for name in ("a", "b"):
        executed, reverted = traces.one(f"execute {name}"), traces.one(f"revert {name}")
        _assert_child_of(reverted, run)
        assert _attrs(reverted)["steadyflow.atom.phase"] == "revert"
        assert _attrs(reverted)["steadyflow.atom.state"] == "REVERTED"
        assert reverted.status.status_code is StatusCode.OK
        assert executed.context is not None
        assert executed.end_time is not None
        assert [link.context.span_id for link in reverted.links] == [executed.context.span_id]
        assert reverted.start_time is not None
        assert reverted.start_time >= executed.end_time
    # And the reverts ran in reverse order
    assert traces.one("revert b").end_time <= traces.one("revert a").start_time  # type: ignore[operator]
    # And the run span ends in error, naming the failure
    assert _attrs(run)["steadyflow.flow.state"] == "REVERTED"
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description == "reverted: b failed: KeyError: 'no such vm'"
    assert [e.name for e in run.events] == ["steadyflow.flow.reverting"]


def test_a_failed_revert_is_an_error_span_and_the_flow_ends_failed(traces: Traces) -> None:
    # Given a flow whose first task cannot be undone and whose second fails
    flow = sf.Linear("f", Undoable("a", fail_revert=True), Undoable("b", fail=True))
    engine = sf.load(flow)
    # When the traced run reverts
    with (
        pytest.raises(sf.errors.RevertFailedError),
        OpenTelemetryListener(engine, tracer_provider=traces.provider),
    ):
        engine.run()
    # Then a's revert span says it failed, with the revert's exception
    reverted = traces.one("revert a")
    assert _attrs(reverted)["steadyflow.atom.state"] == "REVERT_FAILURE"
    assert reverted.status.status_code is StatusCode.ERROR
    assert reverted.status.description == "OSError: cannot delete"
    assert [_attrs_of_event(e)["exception.type"] for e in reverted.events] == ["builtins.OSError"]
    # And the flow span ends FAILURE
    run = traces.one("run f")
    assert _attrs(run)["steadyflow.flow.state"] == "FAILURE"
    assert run.status.status_code is StatusCode.ERROR


@pytest.mark.parametrize("kind", ["serial", "parallel", "asyncio"])
def test_map_elements_get_spans_under_their_maps_span(traces: Traces, kind: EngineKind) -> None:
    # Given a map whose element 1 fails once, retried per element
    seen: list[str] = []

    def square(item: int) -> int:
        context = sf.current_context()
        seen.append(context.idempotency_key)
        if item == 1 and context.attempt == 1:
            raise RuntimeError("flaky element")
        return item * item

    squares = sf.Map(square, over="numbers", provides="squares", name="sq", retry=sf.retry.Times(2))
    engine = sf.load(sf.Linear("m", squares), store={"numbers": [0, 1, 2]}, engine=kind)
    # When the traced run succeeds
    with OpenTelemetryListener(engine, tracer_provider=traces.provider):
        engine.run()
    assert engine.storage.fetch("squares") == [0, 1, 4]
    # Then the map has one span under the run, and each element attempt one under the map
    run = traces.one("run m")
    map_span = traces.one("execute sq")
    _assert_child_of(map_span, run)
    elements = traces.named("execute sq element")
    by_element = sorted(
        (_attrs(s)["steadyflow.atom.element"], _attrs(s)["steadyflow.atom.attempt"], s)
        for s in elements
    )
    assert [(e, a) for e, a, _ in by_element] == [(0, 1), (1, 1), (1, 2), (2, 1)]
    for element, attempt, span in by_element:
        _assert_child_of(span, map_span)
        key = f"{engine.flow_id}:sq[{element}]:{attempt}"
        assert _attrs(span)["steadyflow.atom.idempotency_key"] == key
        assert _attrs(span)["steadyflow.atom.name"] == "sq"
    assert sorted(seen) == sorted(_attrs(s)["steadyflow.atom.idempotency_key"] for s in elements)
    # And the element's retry is linked to its first attempt, whose failure it records
    failed, retried = by_element[1][2], by_element[2][2]
    assert failed.status.status_code is StatusCode.ERROR
    assert [_attrs_of_event(e)["exception.type"] for e in failed.events] == [
        "builtins.RuntimeError"
    ]
    assert failed.context is not None
    assert [link.context.span_id for link in retried.links] == [failed.context.span_id]


def test_reverted_map_elements_get_revert_spans(traces: Traces) -> None:
    # Given a map that succeeds, then a task that fails
    undone: list[int] = []

    class Element(sf.Task):
        def execute(self, item: int) -> int:
            return item

        def revert(self, item: int, **kwargs: Any) -> None:
            undone.append(item)

    flow = sf.Linear("m", sf.Map(Element("el"), over="xs", name="each"), Undoable("z", fail=True))
    engine = sf.load(flow, store={"xs": [1, 2]})
    # When the traced run reverts
    with (
        pytest.raises(KeyError),
        OpenTelemetryListener(engine, tracer_provider=traces.provider),
    ):
        engine.run()
    # Then each element's revert is a span under the map's revert span, linked to its execute
    assert sorted(undone) == [1, 2]
    map_revert = traces.one("revert each")
    executes = {
        _attrs(s)["steadyflow.atom.element"]: s for s in traces.named("execute each element")
    }
    reverts = traces.named("revert each element")
    assert len(reverts) == 2
    for span in reverts:
        _assert_child_of(span, map_revert)
        executed = executes[_attrs(span)["steadyflow.atom.element"]]
        assert executed.context is not None
        assert [link.context.span_id for link in span.links] == [executed.context.span_id]
        assert _attrs(span)["steadyflow.atom.state"] == "REVERTED"


def test_a_suspended_run_ends_its_span_and_the_resumed_run_starts_another(traces: Traces) -> None:
    # Given a flow whose first task asks the engine to suspend
    engine: sf.Engine

    @sf.task(name="first")
    def first() -> None:
        engine.suspend()

    flow = sf.Linear("s", first, sf.task(lambda: None, name="second"))
    engine = sf.load(flow)
    listener = OpenTelemetryListener(engine, tracer_provider=traces.provider)
    # When it runs, suspends, and runs again under the same listener
    with listener:
        engine.run()
        assert engine.storage.flow_state is sf.FlowState.SUSPENDED
        suspended = traces.one("run s")
        engine.run()
    # Then the first run's span ended SUSPENDED, neither OK nor an error, and says so
    assert _attrs(suspended)["steadyflow.flow.state"] == "SUSPENDED"
    assert suspended.status.status_code is StatusCode.UNSET
    assert [e.name for e in suspended.events] == [
        "steadyflow.flow.suspending",
        "steadyflow.flow.suspended",
    ]
    _assert_child_of(traces.one("execute first"), suspended)
    # And the second run has a span of its own, resumed, with the same flow id
    resumed = next(s for s in traces.runs() if s is not suspended and s.name == "run s")
    assert _attrs(resumed)["steadyflow.flow.resumed"] is True
    assert _attrs(resumed)["steadyflow.flow.id"] == engine.flow_id
    assert resumed.status.status_code is StatusCode.OK
    _assert_child_of(traces.one("execute second"), resumed)


class Interrupting(sf.Task):
    """Raises KeyboardInterrupt on its first run, as Ctrl-C inside the task would."""

    runs = 0

    def execute(self) -> str:
        type(self).runs += 1
        if type(self).runs == 1:
            raise KeyboardInterrupt
        return sf.current_context().idempotency_key


def test_an_interrupted_run_ends_its_spans_and_a_resumed_one_starts_anew(
    traces: Traces, tmp_path: Path
) -> None:
    # Given a persisted flow whose second task is interrupted by Ctrl-C
    Interrupting.runs = 0
    flow = sf.Linear("i", sf.task(lambda: 1, name="a"), Interrupting("b", provides="key"))
    backend = f"sqlite:///{tmp_path / 'state.db'}"
    engine = sf.load(flow, backend=backend)
    # When the traced run stops on KeyboardInterrupt
    with (
        pytest.raises(KeyboardInterrupt),
        OpenTelemetryListener(engine, tracer_provider=traces.provider),
    ):
        engine.run()
    engine.close()
    # Then the run span and b's span end, in error, saying the run was interrupted
    interrupted = traces.one("run i")
    assert interrupted.status.status_code is StatusCode.ERROR
    assert interrupted.status.description == (
        "interrupted: the run stopped on KeyboardInterrupt; a later run resumes it"
    )
    b_first = traces.one("execute b")
    assert b_first.status.status_code is StatusCode.ERROR
    assert b_first.status.description == interrupted.status.description
    assert traces.one("execute a").status.status_code is StatusCode.OK
    # When another engine resumes the stored flow, traced
    resumed_engine = sf.load(flow, backend=backend, flow_id=engine.flow_id)
    with OpenTelemetryListener(resumed_engine, tracer_provider=traces.provider):
        resumed_engine.run()
    resumed_engine.close()
    # Then it has a new run span, resumed, under the same flow id, in a trace of its own
    resumed = next(s for s in traces.named("run i") if s is not interrupted)
    assert _attrs(resumed)["steadyflow.flow.resumed"] is True
    assert _attrs(resumed)["steadyflow.flow.id"] == engine.flow_id
    assert resumed.context is not None
    assert interrupted.context is not None
    assert resumed.context.trace_id != interrupted.context.trace_id
    # And b runs again under the same attempt and key, marked as a re-run; a does not run again
    b_again = next(s for s in traces.named("execute b") if s is not b_first)
    _assert_child_of(b_again, resumed)
    assert _attrs(b_again)["steadyflow.atom.attempt"] == 1
    assert _attrs(b_again)["steadyflow.atom.rerun"] is True
    key = _attrs(b_first)["steadyflow.atom.idempotency_key"]
    assert _attrs(b_again)["steadyflow.atom.idempotency_key"] == key
    assert resumed_engine.storage.fetch("key") == key
    assert len(traces.named("execute a")) == 1


def test_a_run_timeout_ends_abandoned_element_spans(traces: Traces) -> None:
    # Given a map whose elements outlive the run's timeout
    release = threading.Event()

    def slow(item: int) -> int:
        release.wait(5)
        return item

    flow = sf.Linear("t", sf.Map(slow, over="xs", name="slow"))
    engine = sf.load(flow, store={"xs": [1, 2]}, engine="parallel", max_workers=2)
    # When the traced run times out
    try:
        with (
            pytest.raises(sf.errors.RunTimeoutError),
            OpenTelemetryListener(engine, tracer_provider=traces.provider),
        ):
            engine.run(timeout=0.2)
    finally:
        release.set()
    # Then every span ended: the elements' as given up on, the map's with the timeout
    elements = traces.named("execute slow element")
    assert len(elements) == 2
    for span in elements:
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "given up on: its map ended first"
    map_span = traces.one("execute slow")
    assert map_span.status.description is not None
    assert map_span.status.description.startswith("RunTimeoutError")
    assert _attrs(traces.one("run t"))["steadyflow.flow.state"] == "REVERTED"


def test_progress_becomes_events_of_the_atoms_span(traces: Traces) -> None:
    class Reporting(sf.Task):
        def execute(self) -> None:
            self.update_progress(0.5)
            self.update_progress(1.0)

    engine = sf.load(sf.Linear("p", Reporting("r")), engine="parallel")
    with OpenTelemetryListener(engine, tracer_provider=traces.provider):
        engine.run()
    events = traces.one("execute r").events
    assert [(e.name, _attrs_of_event(e)["steadyflow.progress"]) for e in events] == [
        ("steadyflow.progress", 0.5),
        ("steadyflow.progress", 1.0),
    ]


def test_a_listener_registered_mid_run_leaves_earlier_atoms_alone(traces: Traces) -> None:
    # Given a listener that starts listening once the first task runs
    engine: sf.Engine
    listener: OpenTelemetryListener

    @sf.task(name="first")
    def first() -> None:
        listener.register()

    engine = sf.load(sf.Linear("late", first, sf.task(lambda: None, name="second")))
    listener = OpenTelemetryListener(engine, tracer_provider=traces.provider)
    # When the run ends
    engine.run()
    listener.deregister()
    # Then the later atom has a span (a root: there was no run span to hang it under)
    assert [s.name for s in traces.spans] == ["execute second"]


def test_a_revoked_run_says_so_and_a_switched_off_atom_is_noted(traces: Traces) -> None:
    # Given a graph whose decider switches c off, and a task that revokes the run
    engine: sf.Engine

    @sf.task(name="a", provides="x")
    def a() -> int:
        return 1

    @sf.task(name="b")
    def b(x: int) -> None:
        engine.revoke("operator said stop", raise_error=False)

    @sf.task(name="c")
    def c(x: int) -> None:
        return None

    graph = sf.Graph("g").add(a, b, c).link(a, c, decider=lambda history: False)
    engine = sf.load(graph)
    # When the traced run ends
    with OpenTelemetryListener(engine, tracer_provider=traces.provider):
        engine.run()
    # Then the run span ends in error, saying it was revoked, and notes the switched-off atom
    run = traces.one("run g")
    assert _attrs(run)["steadyflow.flow.state"] == "REVERTED"
    assert run.status.description == "reverted: revoked"
    ignored = [e for e in run.events if e.name == "steadyflow.atom.ignore"]
    assert [_attrs_of_event(e)["steadyflow.atom.name"] for e in ignored] == ["c"]
    assert {s.name for s in traces.spans} >= {"execute a", "execute b", "revert a", "revert b"}


def test_an_abandoned_run_iter_is_ended_as_interrupted_by_the_next_run(traces: Traces) -> None:
    # Given a listener registered for good (no with block), and a run_iter() left half-way
    flow = sf.Linear("it", sf.task(lambda: None, name="a"), sf.task(lambda: None, name="b"))
    engine = sf.load(flow)
    OpenTelemetryListener(engine, tracer_provider=traces.provider).register()
    steps = cast("Generator[sf.EngineState, None, None]", engine.run_iter())
    for state in steps:
        if state is sf.EngineState.WAITING:
            break  # a is running (inline): stop here
    steps.close()
    assert traces.spans == []  # nothing told the listener the run stopped
    # When the engine runs again
    engine.run()
    # Then the abandoned run's spans ended as interrupted, and the new run has its own
    first, second = sorted(traces.named("run it"), key=lambda s: s.start_time or 0)
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == (
        "interrupted: the run stopped before its end; a later run resumes it"
    )
    assert _attrs(second)["steadyflow.flow.resumed"] is True
    assert second.status.status_code is StatusCode.OK
    assert second.context is not None
    assert {_parent_id(s) for s in traces.named("execute b")} == {second.context.span_id}


@pytest.mark.parametrize("kind", ["serial", "parallel", "asyncio"])
def test_spans_a_task_opens_are_children_of_its_attempt_span(
    traces: Traces, kind: EngineKind
) -> None:
    # Given tasks that open spans of their own (as an instrumented HTTP client would):
    # a thread task, an async task, map elements, and a revert
    tracer = traces.provider.get_tracer("client")

    class Calling(sf.Task):
        def execute(self) -> None:
            with tracer.start_as_current_span(f"call from {self.name}"):
                pass

        def revert(self, **kwargs: Any) -> None:
            with tracer.start_as_current_span(f"undo call from {self.name}"):
                pass

    @sf.task(name="async_call")
    async def async_call() -> None:
        with tracer.start_as_current_span("call from async_call"):
            await asyncio.sleep(0)

    def element(item: int) -> None:
        with tracer.start_as_current_span(f"call for {item}"):
            pass

    flow = sf.Linear(
        "calls",
        Calling("sync_call"),
        async_call,
        sf.Map(element, over="xs", name="each"),
        Undoable("last", fail=True),
    )
    engine = sf.load(flow, engine=kind, store={"xs": [1, 2]})
    # When the traced run executes them, then reverts
    with (
        pytest.raises(KeyError),
        OpenTelemetryListener(engine, tracer_provider=traces.provider),
    ):
        engine.run()
    # Then each span opened inside an atom is a child of that attempt's span
    _assert_child_of(traces.one("call from sync_call"), traces.one("execute sync_call"))
    _assert_child_of(traces.one("undo call from sync_call"), traces.one("revert sync_call"))
    _assert_child_of(traces.one("call from async_call"), traces.one("execute async_call"))
    elements = {
        _attrs(s)["steadyflow.atom.element"]: s for s in traces.named("execute each element")
    }
    _assert_child_of(traces.one("call for 1"), elements[0])
    _assert_child_of(traces.one("call for 2"), elements[1])
    # And nothing stays current in the thread that ran the engine
    assert not trace.get_current_span().get_span_context().is_valid


def test_bad_arguments_are_refused_with_their_name() -> None:
    engine = sf.load(sf.Linear("l", sf.task(lambda: None, name="t")))
    with pytest.raises(TypeError, match="tracer_provider must be a TracerProvider"):
        OpenTelemetryListener(engine, tracer_provider="jaeger")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="context must be an opentelemetry Context"):
        OpenTelemetryListener(engine, context={"span": 1})  # type: ignore[arg-type]


def test_deregistering_mid_run_ends_the_open_spans_as_not_seen_to_their_end(
    traces: Traces,
) -> None:
    # Given a task that deregisters the listener while it runs
    listener: OpenTelemetryListener

    @sf.task(name="quiet")
    def quiet() -> None:
        listener.deregister()

    engine = sf.load(sf.Linear("d", quiet, sf.task(lambda: None, name="after")))
    listener = OpenTelemetryListener(engine, tracer_provider=traces.provider)
    listener.register()
    # When the run ends
    engine.run()
    # Then the spans open at that moment ended, saying so; nothing after was traced
    description = "not seen to its end: the listener was deregistered while it ran"
    assert [(s.name, s.status.description) for s in traces.spans] == [
        ("execute quiet", description),
        ("run d", description),
    ]

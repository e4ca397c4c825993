"""A listener that turns runs into OpenTelemetry traces: a span per flow run and per attempt.

It needs the ``otel`` extra (``pip install 'steadyflow[otel]'``), which brings
the OpenTelemetry API only: the application picks the SDK and its exporters.
Span names, attributes and statuses are listed in docs/observability.md.

Events reach a listener in batches, from the engine's thread, after the state
they announce is durable: spans therefore take their start and end times from
the events' timestamps, and their parents from the span objects kept here
(never from the ambient context of the thread that happens to notify).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, Status, StatusCode

from steadyflow.listeners.base import Listener

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from steadyflow.context import AtomContext
    from steadyflow.engine.engine import Engine

__all__ = ["OpenTelemetryListener"]

_FLOW_ID = "steadyflow.flow.id"
_FLOW_NAME = "steadyflow.flow.name"
_FLOW_STATE = "steadyflow.flow.state"
_FLOW_RESUMED = "steadyflow.flow.resumed"
_ENGINE_KIND = "steadyflow.engine.kind"
_ATOM_NAME = "steadyflow.atom.name"
_ATOM_KIND = "steadyflow.atom.kind"
_ATOM_PHASE = "steadyflow.atom.phase"
_ATOM_ATTEMPT = "steadyflow.atom.attempt"
_ATOM_KEY = "steadyflow.atom.idempotency_key"
_ATOM_STATE = "steadyflow.atom.state"
_ATOM_ELEMENT = "steadyflow.atom.element"
_ATOM_RERUN = "steadyflow.atom.rerun"
_LINK = "steadyflow.link"

_STARTS = {"RUNNING": "execute", "REVERTING": "revert"}
_ENDS = {
    "SUCCESS": "execute",
    "FAILURE": "execute",
    "REVERTED": "revert",
    "REVERT_FAILURE": "revert",
}
_OK = Status(StatusCode.OK)
_FLOW_ENDS = frozenset({"SUCCESS", "REVERTED", "FAILURE", "SUSPENDED"})

_Key = tuple[str, int, int, str]
"""(atom name, map element or -1, attempt, phase): one span of one attempt."""


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class OpenTelemetryListener(Listener):
    """Reports every run of ``engine`` as a trace: a flow-run span, and a child span per attempt.

    Each execute and each revert of an atom (and of each element of a map)
    is a span of its own, child of the flow-run span (an element's, of its
    map's span). A retried attempt is a new span linked to the first attempt's;
    a revert is linked to the execute it undoes. Failures are ``exception``
    span events with the exception's type, message and traceback.

    Use it as a context manager (or call :meth:`deregister`): a run that stops
    without an end of its own (Ctrl-C, a lost lease) then still ends its spans,
    with an ERROR status saying it was interrupted.

    Args:
        engine: the engine to observe.
        tracer_provider: where spans go; default, the global tracer provider.
        name: the instrumentation scope's name (the tracer's name).
        context: the parent of the flow-run spans; default, the context
            current where the run starts.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        tracer_provider: TracerProvider | None = None,
        name: str = "steadyflow",
        context: Context | None = None,
    ) -> None:
        super().__init__(engine)
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, not {name!r}")
        if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer", 0)):
            raise TypeError(f"tracer_provider must be a TracerProvider, not {tracer_provider!r}")
        if context is not None and not isinstance(context, Context):
            raise TypeError(f"context must be an opentelemetry Context, not {context!r}")
        from steadyflow import __version__

        self.tracer = trace.get_tracer(name, __version__, tracer_provider=tracer_provider)
        self.context = context
        self._flow: Span | None = None
        self._flow_context: Context | None = None
        """The flow-run span as a parent context, made once per run."""
        self._flow_failure: str | None = None
        self._spans: dict[_Key, Span] = {}
        self._current: dict[str, Span] = {}
        """Atom name -> its open span: its elements' parent, where its progress goes."""
        self._first: dict[tuple[str, int], SpanContext] = {}
        """(atom, element) -> the first execute span of this run, which retries link to."""
        self._executed: dict[tuple[str, int, int], SpanContext] = {}
        """(atom, element, attempt) -> its execute span, which its revert links to."""

    # -- lifecycle -----------------------------------------------------------------------------

    def deregister(self) -> None:
        """Stop receiving events; spans still open end as interrupted."""
        self._interrupt("not seen to its end: the listener was deregistered while it ran")
        super().deregister()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._interrupt(_interrupted(f"the run stopped on {exc_type.__name__}"))
        super().__exit__(exc_type, exc, tb)

    def _interrupt(self, description: str) -> None:
        """End every open span, the run's included, as ERROR ``description``."""
        if self._flow is None and not self._spans:
            return
        now = time.time_ns()
        for span in self._spans.values():
            span.set_status(Status(StatusCode.ERROR, description))
            span.end(end_time=now)
        self._spans.clear()
        self._current.clear()
        if self._flow is not None:
            self._flow.set_status(Status(StatusCode.ERROR, description))
            self._flow.end(end_time=now)
            self._flow = None
            self._flow_context = None

    # -- flow runs -----------------------------------------------------------------------------

    def on_flow_state(self, details: Mapping[str, Any]) -> None:
        state = str(details["state"])
        when = _ns(details["timestamp"])
        # A run begins RESUMING, or RUNNING from PENDING; no later move looks like either.
        begins = state == "RESUMING" or (state == "RUNNING" and details["old_state"] == "PENDING")
        if begins and self._flow is not None:
            # The previous run stopped without an end (an abandoned run_iter()).
            self._interrupt(_interrupted("the run stopped before its end"))
        if self._flow is None:
            if state in _FLOW_ENDS:
                return  # registered after the run began: nothing of it to end
            self._start_flow(details, state, when)
            return
        flow = self._flow
        flow.set_attribute(_FLOW_STATE, state)
        if state not in _FLOW_ENDS:
            flow.add_event(f"steadyflow.flow.{state.lower()}", timestamp=when)
            return
        self._end_flow(flow, state, when)

    def _start_flow(self, details: Mapping[str, Any], state: str, when: int) -> None:
        self._spans.clear()
        self._current.clear()
        self._first.clear()
        self._executed.clear()
        self._flow_failure = None
        flow = self._flow = self.tracer.start_span(
            f"run {details['flow_name']}",
            context=self.context,
            start_time=when,
            attributes={
                _FLOW_ID: details["flow_id"],
                _FLOW_NAME: details["flow_name"],
                _FLOW_STATE: state,
                _FLOW_RESUMED: state == "RESUMING",
                _ENGINE_KIND: self.engine.kind,
            },
        )
        self._flow_context = trace.set_span_in_context(flow)

    def _end_flow(self, flow: Span, state: str, when: int) -> None:
        for span in self._spans.values():
            # Nothing runs when a run ends; a span still open lost its end event.
            span.set_status(Status(StatusCode.ERROR, f"left open when the flow ended {state}"))
            span.end(end_time=when)
        self._spans.clear()
        self._current.clear()
        if state == "SUCCESS":
            flow.set_status(_OK)
        elif state == "SUSPENDED":
            flow.add_event("steadyflow.flow.suspended", timestamp=when)
        else:
            cause = "revoked" if self.engine.revoke_requested else self._flow_failure
            flow.set_status(Status(StatusCode.ERROR, f"{state.lower()}: {cause or 'failed'}"))
        flow.end(end_time=when)
        self._flow = None
        self._flow_context = None

    # -- atoms and elements ----------------------------------------------------------------------

    def on_atom_state(self, details: Mapping[str, Any]) -> None:
        self._on_state(details, -1)

    def on_element_state(self, details: Mapping[str, Any]) -> None:
        self._on_state(details, details["element"])

    def on_progress(self, details: Mapping[str, Any]) -> None:
        # Sent from the task's thread: the span may be read, never the dicts changed.
        span = self._current.get(details["atom_name"])
        if span is not None:
            span.add_event("steadyflow.progress", {"steadyflow.progress": details["progress"]})

    def _on_state(self, details: Mapping[str, Any], element: int) -> None:
        state = str(details["state"])
        phase = _STARTS.get(state)
        if phase is not None:
            self._start(details, element, state, phase)
            return
        phase = _ENDS.get(state)
        if phase is not None:
            self._end(details, element, state, phase)
            return
        if self._flow is not None and state in ("RETRYING", "IGNORE"):
            self._flow.add_event(
                f"steadyflow.atom.{state.lower()}",
                {_ATOM_NAME: details["atom_name"], _ATOM_ATTEMPT: details["attempt"]},
                timestamp=_ns(details["timestamp"]),
            )

    def _start(self, details: Mapping[str, Any], element: int, state: str, phase: str) -> None:
        name: str = details["atom_name"]
        attempt: int = details["attempt"]
        key = (name, element, attempt, phase)
        when = _ns(details["timestamp"])
        stale = self._spans.pop(key, None)
        if stale is not None:
            stale.set_status(Status(StatusCode.ERROR, "started again before it ended"))
            stale.end(end_time=when)
        if element < 0:
            context = self._flow_context if self._flow is not None else self.context
        else:
            parent = self._current.get(name)
            context = trace.set_span_in_context(parent) if parent is not None else self.context
        attributes: dict[str, Any] = {
            _FLOW_ID: details["flow_id"],
            _ATOM_NAME: name,
            _ATOM_KIND: details["atom_kind"],
            _ATOM_PHASE: phase,
            _ATOM_ATTEMPT: attempt,
            _ATOM_KEY: details["idempotency_key"],
            _ATOM_STATE: state,
        }
        if element >= 0:
            attributes[_ATOM_ELEMENT] = element
        if str(details["old_state"]) == state:
            attributes[_ATOM_RERUN] = True  # an attempt a crash interrupted, run again
        span = self.tracer.start_span(
            f"{phase} {name} element" if element >= 0 else f"{phase} {name}",
            context=context,
            start_time=when,
            attributes=attributes,
            links=self._links(name, element, attempt, phase),
        )
        self._spans[key] = span
        if element < 0:
            self._current[name] = span
        atom_context: AtomContext | None = details.get("context")
        if atom_context is not None:
            # Spans the atom's own code opens (an HTTP client's) become children of this one.
            if atom_context._around is None:
                atom_context._around = []
            atom_context._around.append(_make_current(span))
        if phase == "execute":
            self._first.setdefault((name, element), span.get_span_context())
            self._executed[(name, element, attempt)] = span.get_span_context()

    def _links(self, name: str, element: int, attempt: int, phase: str) -> list[Link]:
        if phase == "revert":
            executed = self._executed.get((name, element, attempt))
            return [] if executed is None else [Link(executed, {_LINK: "reverts"})]
        first = self._first.get((name, element))
        return [] if first is None else [Link(first, {_LINK: "first_attempt"})]

    def _end(self, details: Mapping[str, Any], element: int, state: str, phase: str) -> None:
        name: str = details["atom_name"]
        span = self._spans.pop((name, element, details["attempt"], phase), None)
        if span is None:
            return  # it started before this listener was registered
        when = _ns(details["timestamp"])
        if element < 0:
            if self._current.get(name) is span:
                del self._current[name]
            self._end_elements(name, when)
        span.set_attribute(_ATOM_STATE, state)
        failure = details.get("failure")
        if failure is None:
            span.set_status(_OK)
        else:
            span.add_event(
                "exception",
                {
                    "exception.type": failure.exc_type_name,
                    "exception.message": failure.message,
                    "exception.stacktrace": failure.traceback_str,
                },
                timestamp=when,
            )
            span.set_status(Status(StatusCode.ERROR, str(failure)))
            if element < 0 and phase == "execute" and self._flow_failure is None:
                self._flow_failure = f"{name} failed: {failure}"
        span.end(end_time=when)

    def _end_elements(self, name: str, when: int) -> None:
        """End the element spans a map left running (given up on at a run timeout)."""
        for key in [k for k in self._spans if k[1] >= 0 and k[0] == name]:
            span = self._spans.pop(key)
            span.set_status(Status(StatusCode.ERROR, "given up on: its map ended first"))
            span.end(end_time=when)


def _interrupted(why: str) -> str:
    return f"interrupted: {why}; a later run resumes it"


def _make_current(span: Span) -> Callable[[], Callable[[], None]]:
    """A hook making ``span`` current where the atom's code runs, for as long as it runs."""
    current = trace.set_span_in_context(span)

    def enter() -> Callable[[], None]:
        token = otel_context.attach(current)
        return lambda: otel_context.detach(token)

    return enter

"""Notifications and listeners: every transition observed, a raising callback is harmless."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from typing import Any

import pytest

import steadyflow as sf
from steadyflow.events import Event

from ._helpers import Journal, Step


def test_register_any_receives_flow_and_atom_transitions() -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", Step("a", journal)))
    seen: list[tuple[Event, str]] = []
    engine.notifier.register(sf.events.ANY, lambda e, d: seen.append((e, str(d["state"]))))
    engine.run()
    assert (Event.FLOW_STATE, "RUNNING") in seen
    assert (Event.ATOM_STATE, "RUNNING") in seen
    assert (Event.ATOM_STATE, "SUCCESS") in seen
    assert seen[-1] == (Event.FLOW_STATE, "SUCCESS")


def test_details_name_the_flow_the_atom_and_both_states() -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", Step("a", journal, fail=ValueError("x"))), flow_id="run-1")
    details: list[Mapping[str, Any]] = []
    engine.notifier.register(sf.events.ATOM_STATE, lambda e, d: details.append(d))
    with pytest.raises(ValueError):
        engine.run()
    failed = next(d for d in details if d["state"] == "FAILURE")
    assert failed["flow_name"] == "f"
    assert failed["flow_id"] == "run-1"
    assert failed["atom_name"] == "a"
    assert failed["old_state"] == "RUNNING"
    assert failed["failure"].check(ValueError)
    assert isinstance(failed["timestamp"], float)


def test_a_callback_that_raises_is_logged_and_the_run_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", Step("a", journal)))

    def broken(event: Event, details: Mapping[str, Any]) -> None:
        raise RuntimeError("listener bug")

    engine.notifier.register(sf.events.ANY, broken)
    with caplog.at_level(logging.ERROR, logger="steadyflow.notifier"):
        engine.run()
    assert engine.state is sf.EngineState.SUCCESS
    assert "listener bug" in caplog.text


def test_unregister_stops_delivery_and_unknown_events_are_refused() -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", Step("a", journal)))
    seen: list[Event] = []

    def callback(event: Event, details: Mapping[str, Any]) -> None:
        seen.append(event)

    engine.notifier.register(sf.events.ANY, callback)
    assert engine.notifier.is_registered(sf.events.ANY, callback)
    engine.notifier.unregister(sf.events.ANY, callback)
    engine.run()
    assert seen == []
    with pytest.raises(ValueError):
        engine.notifier.register("no-such-event", callback)


def test_capturing_listener_records_every_transition_in_order() -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", Step("a", journal), Step("b", journal, fail=KeyError("b"))))
    with sf.listeners.CapturingListener(engine) as capture, pytest.raises(KeyError):
        engine.run()
    assert capture.states_of("a") == ["RUNNING", "SUCCESS", "REVERTING", "REVERTED"]
    assert capture.states_of("b") == ["RUNNING", "FAILURE", "REVERTING", "REVERTED"]
    assert capture.states_of("f") == ["RUNNING", "REVERTING", "REVERTED"]


def test_a_listener_context_manager_deregisters_on_exit() -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", Step("a", journal)))
    with sf.listeners.CapturingListener(engine) as capture:
        pass
    engine.run()
    assert capture.events == []


def test_printing_listener_writes_one_line_per_transition() -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", Step("a", journal)))
    out = io.StringIO()
    with sf.listeners.PrintingListener(engine, file=out):
        engine.run()
    lines = out.getvalue().splitlines()
    assert "task a: RUNNING" in lines
    assert "task a: SUCCESS" in lines
    assert lines[-1] == "flow f: SUCCESS"


def test_logging_listener_logs_transitions_and_failures(caplog: pytest.LogCaptureFixture) -> None:
    journal = Journal()
    engine = sf.load(sf.Linear("f", Step("a", journal, fail=ValueError("bad input"))))
    with (
        caplog.at_level(logging.DEBUG),
        sf.listeners.LoggingListener(engine),
        pytest.raises(ValueError),
    ):
        engine.run()
    assert "a" in caplog.text
    assert "FAILURE" in caplog.text
    assert "bad input" in caplog.text

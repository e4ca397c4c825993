"""Timing, progress events and statistics."""

from __future__ import annotations

import contextlib

import steadyflow as sf
from steadyflow.listeners import CapturingListener, TimingListener


class Reporting(sf.Task):
    def execute(self) -> None:
        for step in range(1, 5):
            self.update_progress(step / 4)


def test_timing_listener_records_every_duration_in_events_and_metadata() -> None:
    flow = sf.Linear("l", Reporting("r"), sf.task(lambda: 1 / 0, name="bad"))
    engine = sf.load(flow, engine="parallel")
    with (
        TimingListener(engine) as timing,
        CapturingListener(engine) as capture,
        contextlib.suppress(ZeroDivisionError),
    ):
        engine.run()
    assert set(timing.durations) == {"r", "bad"}
    assert set(timing.revert_durations) == {"r", "bad"}
    assert all(d >= 0 for d in timing.durations.values())
    assert engine.storage.get_meta("r")["duration"] == timing.durations["r"]
    assert "revert_duration" in engine.storage.get_meta("bad")
    ends = [d for d in capture.details if d.get("state") in ("SUCCESS", "FAILURE")]
    assert all("elapsed" in d for d in ends if "atom_name" in d)


def test_progress_reaches_listeners_and_metadata() -> None:
    for kind in ("serial", "parallel"):
        engine = sf.load(sf.Linear("l", Reporting("r")), engine=kind)
        with CapturingListener(engine) as capture:
            engine.run()
        assert capture.progress == [("r", 0.25), ("r", 0.5), ("r", 0.75), ("r", 1.0)]
        assert engine.storage.get_meta("r")["progress"] == 1.0


def test_statistics_is_an_immutable_record() -> None:
    engine = sf.load(sf.Linear("l", sf.task(lambda: None, name="t")))
    before = engine.statistics()
    assert before.states == {"PENDING": 1}
    engine.run()
    after = engine.statistics()
    assert after.states == {"SUCCESS": 1}
    assert after.retries == 0
    assert after.elapsed >= 0

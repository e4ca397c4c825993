"""The pure parts of the dashboard: spans from transitions, bars on an axis, graph layout."""

from __future__ import annotations

import pytest

from steadyflow.dashboard._graph import BOX_WIDTH, layout_graph
from steadyflow.dashboard._security import same_origin, valid_csrf
from steadyflow.dashboard._timeline import Transition, build_timeline, spans_of


def test_retries_resumes_and_reverts_become_spans() -> None:
    # Given a task that failed, was retried, crashed mid-run, ran again, then was reverted
    spans = spans_of(
        [
            Transition("a", "PENDING", 0.0),
            Transition("a", "RUNNING", 1.0),
            Transition("a", "FAILURE", 2.0),
            Transition("a", "PENDING", 2.5),
            Transition("a", "RUNNING", 3.0),
            Transition("a", "RUNNING", 5.0),  # resumed after a crash
            Transition("a", "SUCCESS", 6.0),
            Transition("a", "REVERTING", 7.0),
            Transition("a", "REVERTED", 7.5),
            Transition("b", "RUNNING", 6.5),
        ]
    )
    got = [(s.atom, s.phase, s.attempt, s.start, s.end, s.outcome) for s in spans]
    assert got == [
        ("a", "execute", 1, 1.0, 2.0, "FAILURE"),
        ("a", "execute", 2, 3.0, 5.0, "interrupted"),
        ("a", "execute", 3, 5.0, 6.0, "SUCCESS"),
        ("b", "execute", 1, 6.5, None, "running"),
        ("a", "revert", 1, 7.0, 7.5, "REVERTED"),
    ]


def test_bars_are_placed_in_percent_and_running_ones_reach_now() -> None:
    spans = spans_of(
        [
            Transition("a", "RUNNING", 100.0),
            Transition("a", "SUCCESS", 101.0),
            Transition("b", "RUNNING", 101.0),
        ]
    )
    timeline = build_timeline(spans, now=104.0)
    assert timeline.rows == ("a", "b")
    (first, second) = timeline.bars
    assert (first.row, first.left, first.width) == (0, 0.0, 25.0)
    assert (second.row, second.left, second.width) == (1, 25.0, 75.0)
    assert "in 1.00 s" in first.label
    assert timeline.ticks[0] == (0.0, "+0 ms")
    assert timeline.ticks[-1] == (100.0, "+4.00 s")


def test_an_instant_attempt_stays_visible() -> None:
    spans = spans_of([Transition("a", "RUNNING", 1.0), Transition("a", "SUCCESS", 1.0)])
    (bar,) = build_timeline(spans, now=1.0).bars
    assert bar.width == pytest.approx(0.4)
    assert bar.left + bar.width <= 100


def test_graph_layers_keep_edges_pointing_right() -> None:
    names = ["fetch", "left", "right", "join", "alone"]
    edges = [("fetch", "left"), ("fetch", "right"), ("left", "join"), ("right", "join")]
    layout = layout_graph(names, [*edges, ("ghost", "join")], {"left": "RUNNING"})
    boxes = {box.name: box for box in layout.boxes}
    assert boxes["left"].state == "RUNNING"
    assert boxes["join"].state == "PENDING"
    assert boxes["fetch"].x < boxes["left"].x == boxes["right"].x < boxes["join"].x
    assert boxes["left"].y != boxes["right"].y
    assert boxes["alone"].x == boxes["fetch"].x
    assert {(e.source, e.target) for e in layout.edges} == set(edges)
    assert layout.width >= boxes["join"].x + BOX_WIDTH


def test_long_names_are_cut_in_the_box_only() -> None:
    name = "a-very-long-atom-name-that-goes-on"
    (box,) = layout_graph([name], [], {}).boxes
    assert box.name == name
    assert box.label.endswith("\u2026")
    assert len(box.label) <= 22


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"host": "127.0.0.1:8600"}, True),
        ({"host": "127.0.0.1:8600", "origin": "http://127.0.0.1:8600"}, True),
        ({"host": "127.0.0.1:8600", "origin": "http://evil.example"}, False),
        ({"host": "127.0.0.1:8600", "origin": "null"}, False),
        ({"host": "127.0.0.1:8600", "referer": "http://127.0.0.1:8600/flows/x"}, True),
        ({"host": "127.0.0.1:8600", "referer": "http://127.0.0.1:9999/"}, False),
    ],
)
def test_same_origin(headers: dict[str, str], expected: bool) -> None:
    assert same_origin(headers) is expected


def test_csrf_tokens_must_be_present_and_equal() -> None:
    assert valid_csrf("abc", "abc")
    assert not valid_csrf("abc", "abd")
    assert not valid_csrf(None, "abc")
    assert not valid_csrf("abc", None)
    assert not valid_csrf("", "")


def test_recorded_attempt_numbers_are_kept_across_a_crash_rerun() -> None:
    # The engine reran attempt 2 after a crash: same attempt number, same idempotency key.
    spans = spans_of(
        [
            Transition("a", "RUNNING", 1.0, 1),
            Transition("a", "FAILURE", 2.0, 1),
            Transition("a", "RUNNING", 3.0, 2),
            Transition("a", "RUNNING", 4.0, 2),
            Transition("a", "SUCCESS", 5.0, 2),
        ]
    )
    assert [(s.attempt, s.outcome) for s in spans] == [
        (1, "FAILURE"),
        (2, "interrupted"),
        (2, "SUCCESS"),
    ]


def test_an_outcome_not_written_is_read_from_what_followed() -> None:
    # Written in batches, a failure can be followed at once by the revert it caused
    spans = spans_of(
        [
            Transition("join", "RUNNING", 1.0, 1),
            Transition("join", "REVERTING", 2.0, 1),
            Transition("join", "REVERTED", 3.0, 1),
            Transition("b", "RUNNING", 1.0, 1),
            Transition("b", "IGNORE", 1.5, 1),
            Transition("c", "REVERTING", 1.0, 1),
            Transition("c", "PENDING", 1.2, 1),
        ]
    )
    got = {(s.atom, s.phase): (s.end, s.outcome) for s in spans}
    assert got == {
        ("join", "execute"): (2.0, "FAILURE"),
        ("join", "revert"): (3.0, "REVERTED"),
        ("b", "execute"): (1.5, "IGNORE"),
        ("c", "revert"): (1.2, "ended"),
    }

"""Flow factories the dashboard tests store and run (rebuilt by the dashboard from the store).

``gate`` tasks hold until a file exists, so a test can watch a flow while it runs.
"""

from __future__ import annotations

import os
import time

import steadyflow as sf

HOLD_SECONDS = 20.0
"""The longest a gated task waits for its file."""

XSS = '<script>window.__pwned = true</script><img src=x onerror="window.__pwned=true">'
"""A result no page may run."""


def _wait_for(path: str) -> None:
    deadline = time.monotonic() + HOLD_SECONDS
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)


def diamond(gate: str = "", fail: bool = False) -> sf.Graph:
    """fetch -> (left, right) -> join; ``left`` waits for ``gate`` when given."""

    def fetch() -> str:
        return "payload"

    def left(data: str) -> str:
        if gate:
            _wait_for(gate)
        return data + "-left"

    def right(data: str) -> str:
        return data + "-right"

    def join(a: str, b: str) -> str:
        if fail:
            raise RuntimeError("join refused: <b>bad</b> input")
        return a + b

    return sf.Graph(
        "diamond",
        sf.task(fetch, provides="data"),
        sf.task(left, provides="a"),
        sf.task(right, provides="b"),
        sf.task(join, provides="joined"),
    )


def hostile() -> sf.Linear:
    """One task whose result and name are markup."""

    def render() -> str:
        return XSS

    return sf.Linear("<i>hostile</i>", sf.task(render, name="render", provides="html"))


def flaky(fail_times: int = 2) -> sf.Linear:
    """A task that fails ``fail_times`` times before it succeeds, under a retry controller."""

    def call() -> str:
        attempt = sf.current_context().attempt
        if attempt <= fail_times:
            raise ConnectionError(f"attempt {attempt} refused")
        return f"ok on attempt {attempt}"

    return sf.Linear(
        "flaky",
        sf.task(call, name="call", provides="reply"),
        retry=sf.retry.Times(fail_times + 2, on=[ConnectionError]),
    )

"""Fixtures of the listener tests: a tracer provider whose spans stay in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._traces import Traces


@pytest.fixture
def traces() -> Iterator[Traces]:
    traces = Traces()
    yield traces
    traces.provider.shutdown()

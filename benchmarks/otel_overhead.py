"""What tracing costs per task: runs with an OpenTelemetryListener against runs with none.

Usage::

    .venv/bin/python benchmarks/otel_overhead.py [--tasks 1000] [--reps 15]

Times ``engine.run()`` of a chain of no-op tasks (serial engine) and of an
unordered flow of no-op tasks (parallel engine, 4 threads), in four modes run
in alternation within each repetition (so drift on a shared machine hits them
all alike):

- ``none``: no listener;
- ``capturing``: a CapturingListener (what building the events alone costs);
- ``otel-api``: OpenTelemetryListener on the API's no-op tracer provider (what
  the listener's own bookkeeping costs, without any SDK);
- ``otel-simple``: OpenTelemetryListener on the SDK's TracerProvider with a
  SimpleSpanProcessor and an exporter that drops every span (each span is
  handed to the exporter as it ends, in the engine's thread);
- ``otel-batch``: the same with a BatchSpanProcessor, what production uses
  (spans are queued; a background thread exports them).

Setup (building the flow and engine, registering the listener) is not timed;
the cyclic GC stays on, since the garbage spans make is part of their cost.
Prints the median per run and per task, and each mode's overhead per task
over ``none``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import NoOpTracerProvider, TracerProvider

import steadyflow as sf
from steadyflow.listeners import CapturingListener, Listener, OpenTelemetryListener

MODES = ("none", "capturing", "otel-api", "otel-simple", "otel-batch")


class DroppingExporter(SpanExporter):
    """Accepts every span and keeps none: the SDK's work without any I/O."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _noop() -> None:
    return None


def _flow(shape: str, n: int) -> sf.Flow:
    tasks = [sf.task(_noop, name=f"t{i}") for i in range(n)]
    return sf.Linear("chain", *tasks) if shape == "chain" else sf.Unordered("fan", *tasks)


def _providers() -> dict[str, TracerProvider]:
    simple = SDKTracerProvider()
    simple.add_span_processor(SimpleSpanProcessor(DroppingExporter()))
    batch = SDKTracerProvider()
    batch.add_span_processor(BatchSpanProcessor(DroppingExporter(), max_queue_size=1 << 16))
    return {"otel-api": NoOpTracerProvider(), "otel-simple": simple, "otel-batch": batch}


def _listener(mode: str, engine: sf.Engine, providers: dict[str, TracerProvider]) -> Listener:
    if mode == "capturing":
        return CapturingListener(engine)
    return OpenTelemetryListener(engine, tracer_provider=providers[mode])


def _time_one(
    mode: str, make: Callable[[], sf.Engine], providers: dict[str, TracerProvider]
) -> float:
    engine = make()
    engine.validate()
    listener = None if mode == "none" else _listener(mode, engine, providers)
    if listener is not None:
        listener.register()
    began = time.perf_counter()
    engine.run()
    elapsed = time.perf_counter() - began
    if listener is not None:
        listener.deregister()
    provider = providers.get(mode)
    if isinstance(provider, SDKTracerProvider):
        provider.force_flush()  # the batch queue starts empty for the next run
    return elapsed


def measure(shape: str, n: int, reps: int) -> dict[str, list[float]]:
    """Seconds per run of each mode, ``reps`` runs each, modes alternating."""
    flow = _flow(shape, n)
    kind: Any = "serial" if shape == "chain" else "parallel"

    def make() -> sf.Engine:
        return sf.load(flow, engine=kind, max_workers=4)

    providers = _providers()
    timings: dict[str, list[float]] = {mode: [] for mode in MODES}
    for mode in MODES:
        _time_one(mode, make, providers)  # warm-up: imports, compiled plan, thread pools
    for _ in range(reps):
        for mode in MODES:
            timings[mode].append(_time_one(mode, make, providers))
    for provider in providers.values():
        if isinstance(provider, SDKTracerProvider):
            provider.shutdown()
    return timings


def report(shape: str, n: int, timings: dict[str, list[float]]) -> None:
    base = statistics.median(timings["none"])
    print(f"\n{shape}: {n} no-op tasks, {len(timings['none'])} runs per mode (medians)")
    print(f"{'mode':<12} {'ms/run':>9} {'us/task':>9} {'overhead us/task':>17}")
    for mode in MODES:
        median = statistics.median(timings[mode])
        overhead = (median - base) / n * 1e6
        print(f"{mode:<12} {median * 1e3:9.2f} {median / n * 1e6:9.2f} {overhead:17.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    for shape in ("chain", "fan"):
        report(shape, args.tasks, measure(shape, args.tasks, args.reps))


if __name__ == "__main__":
    main()

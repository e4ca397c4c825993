"""A traced run SIGKILLed mid-task: what its spans say, and what the resumed run's say."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import steadyflow as sf
from steadyflow.listeners import OpenTelemetryListener

from ._traces import Traces

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
    import steadyflow as sf

    url, flow_id, spans_path = sys.argv[1:]

    class FileExporter(SpanExporter):
        # One JSON line per finished span, flushed at once: what a collector would have got.
        def export(self, spans):
            with open(spans_path, "a") as out:
                for span in spans:
                    out.write(json.dumps({"name": span.name, "attributes": dict(span.attributes)}))
                    out.write("\\n")
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FileExporter()))

    @sf.task(name="a")
    def a() -> None:
        pass

    @sf.task(name="b", provides="key")
    def b() -> str:
        print("started", sf.current_context().idempotency_key, flush=True)
        time.sleep(60)
        return "unreachable"

    engine = sf.load(sf.Linear("crash", a, b), backend=url, flow_id=flow_id, lease_ttl=30)
    with sf.listeners.OpenTelemetryListener(engine, tracer_provider=provider):
        engine.run()
    """
)


def _break_lease(url: str, flow_id: str) -> None:
    # The child is dead (we killed it), so its lease is broken rather than waited out.
    with sf.persistence.open_backend(url) as backend:
        lease = backend.get_lease(flow_id)
        if lease is not None:
            backend.release_lease(
                backend.acquire_lease(flow_id, "otel-test", 5, epoch=lease.epoch + 1)
            )


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


@pytest.mark.crash
def test_a_killed_run_loses_its_open_spans_and_the_resumed_run_traces_the_rerun(
    traces: Traces, tmp_path: Path
) -> None:
    # Given a traced, persisted run SIGKILLed while its second task runs
    url = f"sqlite:///{tmp_path / 'state.db'}"
    flow_id = "otel-crash-1"
    spans_path = tmp_path / "spans.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, flow_id, str(spans_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        started, killed_key = child.stdout.readline().split()
        assert started == "started"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    # Then only the spans that ended before the kill reached the exporter: a's
    exported = [json.loads(line) for line in spans_path.read_text().splitlines()]
    assert [span["name"] for span in exported] == ["execute a"]
    assert exported[0]["attributes"]["steadyflow.flow.id"] == flow_id
    # When another process (this one) resumes the flow, traced
    _break_lease(url, flow_id)

    @sf.task(name="a")
    def a() -> None:
        raise AssertionError("a succeeded before the crash: it must not run again")

    @sf.task(name="b", provides="key")
    def b() -> str:
        return sf.current_context().idempotency_key

    with sf.load(sf.Linear("crash", a, b), backend=url, flow_id=flow_id) as engine:
        with OpenTelemetryListener(engine, tracer_provider=traces.provider):
            engine.run()
        assert engine.storage.fetch("key") == killed_key
    # Then the resumed run has a run span of its own, resumed, under the same flow id
    run = traces.one("run crash")
    assert _attrs(run)["steadyflow.flow.id"] == flow_id
    assert _attrs(run)["steadyflow.flow.resumed"] is True
    assert run.status.status_code is StatusCode.OK
    # And b's re-run is traced under the key of the killed attempt, marked as a re-run
    rerun = traces.one("execute b")
    assert rerun.parent is not None
    assert run.context is not None
    assert rerun.parent.span_id == run.context.span_id
    assert _attrs(rerun)["steadyflow.atom.idempotency_key"] == killed_key
    assert _attrs(rerun)["steadyflow.atom.attempt"] == 1
    assert _attrs(rerun)["steadyflow.atom.rerun"] is True
    assert traces.named("execute a") == []

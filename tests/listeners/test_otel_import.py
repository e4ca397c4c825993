"""The core never imports OpenTelemetry; the listener says which extra to install."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_importing_steadyflow_and_its_listeners_loads_no_opentelemetry() -> None:
    # Given a fresh process, when it imports steadyflow and uses the other listeners
    out = _run(
        "import sys, steadyflow as sf, steadyflow.listeners\n"
        "engine = sf.load(sf.Linear('l', sf.task(lambda: None, name='t')))\n"
        "with sf.listeners.CapturingListener(engine), sf.listeners.TimingListener(engine):\n"
        "    engine.run()\n"
        "sf.listeners.LoggingListener\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
        "sf.listeners.OpenTelemetryListener\n"
        "print('opentelemetry.trace' in sys.modules)\n"
    )
    # Then OpenTelemetry is loaded only once its listener is asked for
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "True"]


def test_without_opentelemetry_the_listener_names_the_extra() -> None:
    # Given a process where OpenTelemetry cannot be imported
    out = _run(
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "import steadyflow as sf\n"
        "try:\n"
        "    sf.listeners.OpenTelemetryListener\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    # Then asking for the listener fails with an install hint
    assert out.returncode == 0, out.stderr
    assert "pip install 'steadyflow[otel]'" in out.stdout

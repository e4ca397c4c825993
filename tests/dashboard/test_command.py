"""``python -m steadyflow.dashboard`` as a real process: it serves, and says what is wrong."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import steadyflow as sf

from . import _flows

TESTS = str(Path(__file__).resolve().parents[1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = TESTS + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("STEADYFLOW_DASHBOARD_TOKEN", None)
    return env


def test_the_command_serves_a_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flows.db'}"
    sf.run(_flows.diamond(), backend=url, flow_id="cmd-1", factory="dashboard._flows:diamond")
    port = _free_port()
    command = [sys.executable, "-m", "steadyflow.dashboard", "--backend", url, "--port", str(port)]
    with subprocess.Popen(
        command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        _check_serving(process, port)


def _check_serving(process: subprocess.Popen[str], port: int) -> None:
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in banner
        assert "read-only" in banner
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                    body = reply.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "the dashboard did not answer"
                time.sleep(0.05)
        assert "cmd-1" in body
        # A page following a flow does not hold the server up when it is told to stop
        events = urllib.request.urlopen(f"http://127.0.0.1:{port}/flows/cmd-1/events", timeout=5)
        with events:
            assert events.readline().startswith(b"retry:")
            process.terminate()
            started = time.monotonic()
            process.wait(timeout=10)
            assert time.monotonic() - started < 2.0  # uvicorn would wait 2 s, then cut it
        # uvicorn re-raises the signal once it has shut down: the usual death by SIGTERM
        assert process.returncode in (0, -signal.SIGTERM)
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "steadyflow.dashboard", *argv],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_store_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    # A bad URL is a usage error; a store that does not exist is not created by looking at it
    bad = _run("--backend", "nosuch://x")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("steadyflow: error: unknown backend scheme 'nosuch'")
    missing = _run("--backend", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.returncode == 4
    assert missing.stderr.startswith("steadyflow: error: no store at sqlite:///")
    assert not (tmp_path / "none.db").exists()


def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from steadyflow.cli import main

    assert main(["dashboard", "--port", "70000", "--backend", "memory://"]) == 2
    assert "--port must be from 0 to 65535" in capsys.readouterr().err
    assert main(["dashboard", "--poll", "0", "--backend", "memory://"]) == 2
    assert "--poll must be a positive number" in capsys.readouterr().err


def test_the_steadyflow_command_lists_it() -> None:
    from steadyflow.cli import build_parser

    assert "dashboard" in build_parser().format_help()


def test_the_plugin_module_imports_only_the_standard_library() -> None:
    # The steadyflow command imports every plugin to build its parser: ours must stay light.
    code = (
        "import sys, steadyflow.dashboard._cli, steadyflow.dashboard; "
        "print(sorted(m for m in ('starlette', 'jinja2', 'uvicorn') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == "[]"

"""The CLI as a real process (``python -m steadyflow``), on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from . import _demo

if TYPE_CHECKING:
    from pathlib import Path


def _steadyflow(cwd: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "NO_COLOR": "1", **env}
    environment.pop("STEADYFLOW_BACKEND", None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "steadyflow", *argv],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_process_lists_shows_and_resumes_on_sqlite(tmp_path: Path) -> None:
    # Given a store holding a finished flow and one killed mid-run
    _demo.write_module(tmp_path)
    url = f"sqlite:///{tmp_path}/state.db"
    assert _demo.store_flow(tmp_path, url, "ok-1").returncode == 0
    assert _demo.store_flow(tmp_path, url, "crashed", crash=True, lease_ttl=0.5).returncode == -9
    time.sleep(0.6)
    # When another process lists them (store from the environment)
    listed = _steadyflow(tmp_path, "flows", "list", "--json", STEADYFLOW_BACKEND=url)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["store"] == f"{url} ($STEADYFLOW_BACKEND)"
    assert [(f["uuid"], f["state"]) for f in data["flows"]] == [
        ("crashed", "RUNNING"),
        ("ok-1", "SUCCESS"),
    ]
    # And resumes the crashed one: its factory is imported from the current directory
    resumed = _steadyflow(tmp_path, "flows", "resume", "crashed", "--backend", url)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[-1] == "flow crashed SUCCESS"
    executed = [(a, k) for e, a, k in _demo.effects(tmp_path) if k.startswith("crashed:")]
    # reserve ran once; charge, killed mid-run, ran again under the same key
    assert executed[:2] == [("reserve", "crashed:reserve:1"), ("charge", "crashed:charge:1")]
    assert sorted(executed[2:]) == [
        ("charge", "crashed:charge:1"),
        ("notify", "crashed:notify:1"),
        ("ship", "crashed:ship:1"),
    ]
    shown = _steadyflow(tmp_path, "flows", "show", "crashed", "--json", "--backend", url)
    assert json.loads(shown.stdout)["state"] == "SUCCESS"


def test_a_process_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    missing = _steadyflow(tmp_path, "flows", "list")
    assert missing.returncode == 4
    assert missing.stdout == ""
    assert missing.stderr == (
        "steadyflow: error: no store at sqlite:///steadyflow.db (default): steadyflow.db "
        "does not exist; pass --backend URL or set $STEADYFLOW_BACKEND\n"
    )
    since = _steadyflow(tmp_path, "flows", "list", "--since", "soon", "--backend", "memory://")
    assert since.returncode == 2
    assert since.stderr.count("\n") == 1
    assert "Traceback" not in since.stderr


def test_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    _demo.write_module(tmp_path)
    url = f"sqlite:///{tmp_path}/state.db"
    for index in range(3):
        _demo.store_flow(tmp_path, url, f"ok-{index}")
    env = {**os.environ, "STEADYFLOW_BACKEND": url}
    with subprocess.Popen(
        [sys.executable, "-m", "steadyflow", "flows", "show", "ok-1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        child.stdout.close()  # like `| head -0`
        err = child.stderr.read().decode()
        child.wait(timeout=60)
    assert "Traceback" not in err


def test_importing_steadyflow_does_not_load_the_cli() -> None:
    code = (
        "import sys, steadyflow\n"
        "print(sorted(m for m in sys.modules if 'cli' in m or m == 'argparse'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.postgres
def test_a_process_lists_and_shows_flows_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    # Given flows stored in PostgreSQL by real runs (one retried, one reverted)
    _demo.write_module(tmp_path)
    assert _demo.store_flow(tmp_path, postgres_url, "pg-ok", fail_once=True).returncode == 0
    assert _demo.store_flow(tmp_path, postgres_url, "pg-bad", always_fail=True).returncode == 0
    # When a process lists, filters, shows and draws them
    listed = _steadyflow(tmp_path, "flows", "list", "--json", "--backend", postgres_url)
    assert listed.returncode == 0, listed.stderr
    assert [f["uuid"] for f in json.loads(listed.stdout)["flows"]] == ["pg-bad", "pg-ok"]
    assert json.loads(listed.stdout)["store"] == f"{postgres_url} (--backend)"
    reverted = _steadyflow(
        tmp_path, "flows", "list", "--state", "REVERTED", "--json", "--backend", postgres_url
    )
    assert [f["uuid"] for f in json.loads(reverted.stdout)["flows"]] == ["pg-bad"]
    shown = _steadyflow(tmp_path, "flows", "show", "pg-o", "--backend", postgres_url)
    assert shown.returncode == 0, shown.stderr
    assert "attempt 1: FAILURE" in shown.stdout
    assert "key pg-ok:charge:2" in shown.stdout
    history = _steadyflow(
        tmp_path, "flows", "history", "pg-bad", "--json", "--backend", postgres_url
    )
    states = [(t["atom"], t["state"]) for t in json.loads(history.stdout)["transitions"]]
    assert ("ship", "REVERTED") in states or ("ship", "REVERTING") in states
    assert states[-1] == (None, "REVERTED")
    missing = _steadyflow(tmp_path, "flows", "show", "nope", "--backend", postgres_url)
    assert missing.returncode == 3
    assert missing.stderr.count("\n") == 1

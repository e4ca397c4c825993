"""Fixtures for the CLI tests: a directory holding the demo flow module and a store."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from steadyflow.cli import main

from . import _demo

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class Result:
    """What one in-process run of ``main`` did."""

    code: int
    out: str
    err: str


@dataclass
class Workspace:
    """A directory (the current one) with the demo module, and a store URL."""

    path: Path
    url: str
    capsys: pytest.CaptureFixture[str]

    def run(self, *argv: str) -> Result:
        """``steadyflow --backend URL *argv`` in this process."""
        return self.run_raw("--backend", self.url, *argv)

    def run_raw(self, *argv: str) -> Result:
        """``steadyflow *argv`` in this process."""
        self.capsys.readouterr()
        code = main(list(argv))
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def store(self, flow_id: str, **options: object) -> None:
        """Run the demo flow in a real process (see :func:`_demo.store_flow`)."""
        done = _demo.store_flow(self.path, self.url, flow_id, **options)  # type: ignore[arg-type]
        assert done.returncode in (0, -9), done.stderr


@pytest.fixture
def workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Workspace:
    _demo.write_module(tmp_path)
    monkeypatch.chdir(tmp_path)
    # The CLI may put the current directory on sys.path (to import a flow's factory).
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, _demo.MODULE, raising=False)
    monkeypatch.delenv("STEADYFLOW_BACKEND", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    return Workspace(tmp_path, f"sqlite:///{tmp_path}/state.db", capsys)

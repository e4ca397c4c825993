"""Other modules' subcommands: registered from PLUGINS, skipped when not installed."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

import steadyflow.cli

if TYPE_CHECKING:
    from .conftest import Workspace

PLUGIN = """
import argparse

from steadyflow.cli._common import add_backend_argument, missing_extra, store_label


def register(subparsers):
    jobs = subparsers.add_parser("jobs", help="jobs on a board")
    add_backend_argument(jobs)
    jobs.add_argument("--need-extra", action="store_true")
    jobs.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    if args.need_extra:
        raise missing_extra("jobs", "redis")
    print("jobs on", store_label(args))
    return 0
"""


def _plugins(workspace: Workspace, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    (workspace.path / "sf_test_plugin.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    (workspace.path / "sf_broken_plugin.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(workspace.path))
    monkeypatch.setattr(steadyflow.cli, "PLUGINS", ("steadyflow.cli._flows", *names))


def test_a_plugin_adds_its_command_and_shares_the_store_option(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plugins(workspace, monkeypatch, "sf_test_plugin", "sf_absent_plugin", "steadyflow.nope._cli")
    result = workspace.run_raw("jobs", "--backend", "memory://")
    assert (result.code, result.out) == (0, "jobs on memory:// (--backend)\n")
    # before the command too
    assert workspace.run_raw("--backend", "memory://", "jobs").out == result.out
    # absent plug-ins are skipped; reserved names they would have added say so
    absent = workspace.run_raw("worker")
    assert absent.code == 2
    assert "`steadyflow worker` is not available in this installation" in absent.err


def test_a_missing_extra_is_one_line_naming_the_install(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plugins(workspace, monkeypatch, "sf_test_plugin")
    result = workspace.run_raw("jobs", "--need-extra")
    assert result.code == 4
    assert result.err == (
        "steadyflow: error: the jobs needs `pip install 'steadyflow[jobs]'` "
        "(redis is not installed)\n"
    )


def test_a_plugin_that_fails_to_import_is_a_bug_reported_in_one_line(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plugins(workspace, monkeypatch, "sf_broken_plugin")
    result = workspace.run_raw("flows", "list")
    assert result.code == 1
    assert "No module named 'no_such_dependency_xyz'" in result.err
    assert result.err.count("\n") == 1


def test_help_lists_every_command(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        steadyflow.cli.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("flows", "jobs", "conductor", "worker", "dashboard"):
        assert command in out
    assert "Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 store" in out

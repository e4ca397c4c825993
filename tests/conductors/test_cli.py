"""The ``jobs`` and ``conductor`` plug-ins of the ``steadyflow`` command, on a SQLite board.

Until the ``steadyflow`` command itself is merged, each test builds the
argparse parser the way it does: one sub-parser per plug-in, ``func`` set.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pytest

from steadyflow.conductors import _cli as conductor_cli
from steadyflow.jobs import _cli as jobs_cli
from steadyflow.jobs.sqlite import SQLiteBoard

from ._flows import effects
from .conftest import FACTORY


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="steadyflow")
    parser.add_argument("--backend", default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    jobs_cli.register(commands)
    conductor_cli.register(commands)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


@pytest.fixture
def board_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/farm.db"


def post(board_url: str, log: str, job: str, *extra: str) -> int:
    return run_cli(
        "jobs", "post", job, "--board", board_url, "--factory", FACTORY,
        "--args", json.dumps([log, job]), "--json", *extra,
    )  # fmt: skip


def test_post_list_show_and_a_conductor_draining_the_board(
    board_url: str, log: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two jobs posted from the command line, one of them twice with a key
    assert post(board_url, log, "a", "--key", "tenant-a") == 0
    first = json.loads(capsys.readouterr().out)
    assert post(board_url, log, "a", "--key", "tenant-a") == 0
    assert json.loads(capsys.readouterr().out)["id"] == first["id"]
    assert post(board_url, log, "b", "--kwargs", '{"steps": 2}', "--priority", "3") == 0
    capsys.readouterr()
    # When they are listed
    assert run_cli("jobs", "list", "--board", board_url, "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    # Then the higher priority comes first, and each job once
    assert [job["name"] for job in listed] == ["b", "a"]
    assert run_cli("jobs", "list", "--board", board_url, "--state", "unclaimed") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "NAME", "STATE", "CLAIMS", "OWNER", "REASON"]
    assert len(table) == 3
    # And a conductor run from the command line drains the board
    backend = f"sqlite:///{tmp_path}/flows.db"
    code = run_cli(
        "--backend", backend, "conductor", "--board", board_url, "--ttl", "2",
        "--idle-timeout", "0.3", "--json", "--log-level", "warning",
    )  # fmt: skip
    assert code == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["completed"] == 2
    assert Counter(who for event, who, _ in effects(log) if event == "exec") == {"a": 3, "b": 2}
    assert run_cli("jobs", "show", first["id"], "--board", board_url) == 0
    assert "DONE" in capsys.readouterr().out


def test_revoke_and_trash(board_url: str, log: str, capsys: pytest.CaptureFixture[str]) -> None:
    post(board_url, log, "fresh")
    fresh = json.loads(capsys.readouterr().out)["id"]
    post(board_url, log, "claimed")
    claimed = json.loads(capsys.readouterr().out)["id"]
    with SQLiteBoard(board_url.removeprefix("sqlite:///")) as board:
        claim = board.claim("someone", 30)
        assert claim is not None
        assert claim.job_id == fresh
        claim.abandon()
    # A job whose claim is live is running: trash refuses it and points at revoke
    with SQLiteBoard(board_url.removeprefix("sqlite:///")) as board:
        running = board.claim("someone", 30)
        assert running is not None
        assert running.job_id == fresh
        assert run_cli("jobs", "trash", fresh, "--board", board_url, "--reason", "x") == 5
        assert "revoke it instead" in capsys.readouterr().err
        assert board.get(fresh).state.value == "CLAIMED"
        running.abandon()
    # An unclaimed job is trashed at once, whether it was claimed before or never
    assert run_cli("jobs", "trash", claimed, "--board", board_url, "--reason", "dup") == 0
    assert "TRASHED" in capsys.readouterr().out
    assert run_cli("jobs", "trash", fresh, "--board", board_url, "--reason", "bad", "--json") == 0
    assert json.loads(capsys.readouterr().out)["reason"] == "bad"
    # Revoke leaves a trashed job as it is
    assert run_cli("jobs", "revoke", fresh, "--board", board_url, "--reason", "gone", "--json") == 0
    assert json.loads(capsys.readouterr().out)["state"] == "TRASHED"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["jobs", "show", "nope"], 3, "no job"),
        (["jobs", "list", "--board", "nosuch://x"], 2, "no job board for URL scheme"),
        (["jobs", "post", "x"], 2, "factory"),
        (["jobs", "post", "x", "--factory", "no-colon"], 2, "module:function"),
        (["conductor", "--ttl", "0", "--idle-timeout", "0.1"], 2, "ttl"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_its_exit_code(
    board_url: str,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    if "--board" not in argv:
        argv = [*argv, "--board", board_url]
    assert run_cli(*argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_bad_json_arguments_are_usage_errors(board_url: str) -> None:
    with pytest.raises(SystemExit) as exited:
        run_cli("jobs", "post", "x", "--board", board_url, "--args", "{not json")
    assert exited.value.code == 2

"""Bad input: one line on stderr, the documented exit code, never a traceback."""

from __future__ import annotations

import pytest

from steadyflow.errors import NotFoundError

from .conftest import Workspace


def _one_line(err: str) -> str:
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert err.startswith("steadyflow: error: ")
    return err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["flows", "show", "nope"], 3, "no flow nope in SQLiteBackend"),
        (["flows", "history", "nope"], 3, "no flow nope"),
        (["flows", "graph", "nope"], 3, "no flow nope"),
        (["flows", "resume", "nope"], 3, "no flow nope"),
        (["flows", "revoke", "nope"], 3, "no flow nope"),
        (["flows", "show", "o"], 2, "flow id prefix 'o' matches several flows (ok-2, ok-1)"),
        (["flows", "list", "--since", "last tuesday"], 2, "--since 'last tuesday' is not a time"),
        (["flows", "list", "--state", "done"], 2, "--state 'done' is not a flow state"),
        (["flows", "list", "--limit", "0"], 2, "--limit must be from 1 to 10000"),
        (["flows", "list", "--limit", "many"], 2, "argument --limit: invalid int value"),
        (["flows", "list", "--cursor", "xyz"], 2, "--cursor: 'xyz' is not a cursor"),
        (["flows", "graph", "ok-1", "--format", "png"], 2, "invalid choice: 'png'"),
        (["flows", "show"], 2, "the following arguments are required: ID"),
        (["flows", "dance"], 2, "invalid choice: 'dance'"),
        (["jobs", "list"], 2, "`steadyflow jobs` is not available in this installation"),
        (["conductor"], 2, "`steadyflow conductor` is not available in this installation"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(
    workspace: Workspace, argv: list[str], code: int, message: str
) -> None:
    workspace.store("ok-1")
    workspace.store("ok-2")
    result = workspace.run(*argv)
    assert (result.code, result.out) == (code, "")
    assert message in _one_line(result.err)


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("nonsense", 2, "'nonsense' is not a backend URL"),
        ("ftp://host/x", 2, "unknown backend scheme 'ftp'"),
        ("sqlite:///missing.db", 4, "no store at sqlite:///missing.db (--backend)"),
        ("dir:///no/such/store", 4, "no store at dir:///no/such/store"),
        ("postgresql://u:secret@127.0.0.1:1/db", 4, "cannot reach postgresql server at"),
    ],
)
def test_a_bad_store_is_one_line(workspace: Workspace, url: str, code: int, message: str) -> None:
    result = workspace.run_raw("flows", "list", "--backend", url)
    assert result.code == code
    err = _one_line(result.err)
    assert message in err
    assert "secret" not in err


def test_a_store_that_is_not_a_database_is_exit_code_4(workspace: Workspace) -> None:
    (workspace.path / "junk.db").write_bytes(b"not a database" * 100)
    result = workspace.run_raw("flows", "list", "--backend", "sqlite:///junk.db")
    assert result.code == 4
    assert "junk.db" in _one_line(result.err)


def test_no_command_prints_help_and_exits_2(workspace: Workspace) -> None:
    result = workspace.run_raw()
    assert result.code == 2
    assert "flows" in result.err
    assert workspace.run_raw("flows").code == 2


def test_debug_shows_the_traceback(workspace: Workspace) -> None:
    workspace.store("ok-1")
    with pytest.raises(NotFoundError, match="no flow nope"):
        workspace.run("--debug", "flows", "show", "nope")


def test_an_unexpected_error_is_one_line_with_its_type(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import steadyflow._inspect

    def broken(detail: object) -> None:
        raise KeyError("bug")

    workspace.store("ok-1")
    monkeypatch.setattr(steadyflow._inspect, "inspect_flow", broken)
    result = workspace.run("flows", "show", "ok-1")
    assert result.code == 1
    assert "KeyError: 'bug'" in _one_line(result.err)

"""``steadyflow flows ...`` run in this process, on a SQLite store written by real runs."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import pytest

from . import _demo

if TYPE_CHECKING:
    from .conftest import Workspace


def test_list_shows_the_store_and_the_flows_newest_first(workspace: Workspace) -> None:
    # Given three flows: one succeeded, one reverted, one killed mid-run
    workspace.store("ok-1")
    workspace.store("bad-1", always_fail=True)
    workspace.store("crashed-1", crash=True)
    # When they are listed
    result = workspace.run("flows", "list")
    # Then the store is named and the newest flow comes first
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"store: {workspace.url} (--backend)"
    assert lines[1].split() == ["ID", "STATE", "NAME", "CREATED", "UPDATED"]
    assert [line.split()[:3] for line in lines[2:]] == [
        ["crashed-1", "RUNNING", "order"],
        ["bad-1", "REVERTED", "order"],
        ["ok-1", "SUCCESS", "order"],
    ]
    assert result.err == ""


def test_list_filters_and_pages(workspace: Workspace) -> None:
    for index in range(5):
        workspace.store(f"ok-{index}")
    workspace.store("bad-1", always_fail=True)
    failed = workspace.run("flows", "list", "--state", "reverted,failure", "--json")
    assert [f["uuid"] for f in json.loads(failed.out)["flows"]] == ["bad-1"]
    assert json.loads(workspace.run("flows", "list", "--name", "ORD*", "--json").out)["flows"]
    assert not json.loads(workspace.run("flows", "list", "--name", "nope", "--json").out)["flows"]
    assert "no flows match" in workspace.run("flows", "list", "--name", "nope").out
    recent = workspace.run("flows", "list", "--since", "1h", "--json")
    assert len(json.loads(recent.out)["flows"]) == 6
    future = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 3600))
    assert json.loads(workspace.run("flows", "list", "--since", future, "--json").out) == {
        "store": f"{workspace.url} (--backend)",
        "flows": [],
        "next_cursor": None,
    }
    # Pages follow each other through the cursor, on a terminal and in JSON alike
    seen: list[str] = []
    cursor: list[str] = []
    while True:
        page = json.loads(workspace.run("flows", "list", "--limit", "4", "--json", *cursor).out)
        seen.extend(flow["uuid"] for flow in page["flows"])
        if page["next_cursor"] is None:
            break
        cursor = ["--cursor", page["next_cursor"]]
    assert seen == ["bad-1", "ok-4", "ok-3", "ok-2", "ok-1", "ok-0"]
    table = workspace.run("flows", "list", "--limit", "4").out
    assert table.splitlines()[-1].startswith("more: --cursor ")


def test_the_store_comes_from_the_environment_then_the_default(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.store("ok-1")
    monkeypatch.setenv("STEADYFLOW_BACKEND", workspace.url)
    from_env = workspace.run_raw("flows", "list")
    assert from_env.out.startswith(f"store: {workspace.url} ($STEADYFLOW_BACKEND)")
    # --backend after the command wins over the environment
    other = f"sqlite:///{workspace.path}/other.db"
    _demo.store_flow(workspace.path, other, "elsewhere")
    chosen = workspace.run_raw("flows", "list", "--json", "--backend", other)
    assert [f["uuid"] for f in json.loads(chosen.out)["flows"]] == ["elsewhere"]
    monkeypatch.delenv("STEADYFLOW_BACKEND")
    (workspace.path / "state.db").rename(workspace.path / "steadyflow.db")
    default = workspace.run_raw("flows", "list")
    assert default.out.startswith("store: sqlite:///steadyflow.db (default)")
    assert "ok-1" in default.out


def test_show_draws_the_tree_with_attempts_keys_and_tracebacks(workspace: Workspace) -> None:
    # Given a flow whose charge failed once and was retried, and one that was reverted
    workspace.store("retried", fail_once=True)
    workspace.store("reverted", always_fail=True)
    # When the retried one is shown
    result = workspace.run("flows", "show", "retried")
    assert result.code == 0, result.err
    out = result.out
    # Then the tree nests the sub-flow, and the retried atom shows both attempts,
    # their idempotency keys and the first attempt's failure with its traceback
    assert "flow retried  'order'  SUCCESS" in out
    assert "factory sf_cli_demo:build" in out
    assert "atoms: 5 of 5 done" in out
    assert "├── payment (unordered, retry payment.retry)" in out
    assert "attempt 1: FAILURE" in out
    assert "attempt 2: SUCCESS" in out
    assert "key retried:charge:2" in out
    assert (
        "failed in attempt 1 of payment.retry: RuntimeError: charge broke on its first try" in out
    )
    assert 'raise RuntimeError(f"{self.name} broke on its first try")' in out
    # And the reverted flow shows the failure that reverted it
    reverted = workspace.run("flows", "show", "rev").out  # a unique prefix is enough
    assert "flow reverted  'order'  REVERTED" in reverted
    assert "failure: ValueError: no courier today" in reverted


def test_show_json_holds_the_tree_atoms_and_attempts(workspace: Workspace) -> None:
    workspace.store("retried", fail_once=True)
    data = json.loads(workspace.run("flows", "show", "retried", "--json").out)
    assert data["state"] == "SUCCESS"
    assert data["structure_known"] is True
    assert data["tree"]["children"][0] == "reserve"
    assert data["tree"]["children"][1]["flow"] == "payment"
    atoms = {atom["name"]: atom for atom in data["atoms"]}
    charge = atoms["charge"]
    assert [(a["number"], a["outcome"]) for a in charge["attempts"]] == [
        (1, "FAILURE"),
        (2, "SUCCESS"),
    ]
    assert charge["attempts"][1]["idempotency_key"] == "retried:charge:2"
    assert charge["attempts"][1]["duration"] >= 0
    assert charge["past_failures"][0]["type"] == "builtins.RuntimeError"
    assert ["reserve", "payment.retry"] in data["edges"]
    assert data["atoms_done"] == data["atoms_total"] == 5


def test_history_tells_the_transitions_in_order(workspace: Workspace) -> None:
    workspace.store("retried", fail_once=True)
    result = workspace.run("flows", "history", "retried")
    assert result.code == 0, result.err
    lines = [line for line in result.out.splitlines() if "+" in line and "s  " in line]
    changes = [" ".join(line.split()[3:]) for line in lines]
    assert changes[0] == "(flow) PENDING"
    assert changes[1] == "(flow) PENDING -> RUNNING"
    assert "charge RUNNING -> REVERTING attempt 1" in changes
    assert "charge RUNNING -> SUCCESS attempt 2" in changes
    assert changes[-1] == "(flow) RUNNING -> SUCCESS"
    data = json.loads(workspace.run("flows", "history", "retried", "--json").out)
    times = [entry["at"] for entry in data["transitions"]]
    assert times == sorted(times)
    assert data["transitions"][-1] == {
        "at": times[-1],
        "atom": None,
        "state": "SUCCESS",
        "previous": "RUNNING",
        "attempt": 0,
    }


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_graph_draws_the_structure_coloured_by_state(workspace: Workspace, fmt: str) -> None:
    workspace.store("bad", always_fail=True)
    result = workspace.run("flows", "graph", "bad", "--format", fmt)
    assert result.code == 0, result.err
    out = result.out
    if fmt == "mermaid":
        assert out.startswith("flowchart TD\n")
        assert 'subgraph f0["payment"]' in out
        assert "a0 --> a1" in out
        assert "classDef s_REVERTED fill:#fff1c2" in out
        assert "class a0,a1,a2,a3,a4 s_REVERTED" in out
    else:
        assert out.startswith('digraph "order" {')
        assert "subgraph cluster_0 {" in out
        assert "a2 -> a4;" in out
        assert 'a4 [label="ship\\nREVERTED", fillcolor="#fff1c2"' in out


def test_resume_finishes_a_crashed_flow_without_redoing_what_was_done(
    workspace: Workspace,
) -> None:
    # Given a flow whose process was SIGKILLed inside `charge`, its lease now expired
    workspace.store("crashed", crash=True, lease_ttl=0.5)
    before = _demo.effects(workspace.path)
    assert [(e, a) for e, a, _ in before] == [("exec", "reserve"), ("exec", "charge")]
    time.sleep(0.6)
    # When it is resumed from the CLI (output not a terminal: plain lines)
    result = workspace.run("flows", "resume", "crashed")
    # Then it succeeds, reserve is not run again, charge runs again under its key
    assert result.code == 0, result.err
    after = _demo.effects(workspace.path)[len(before) :]
    assert sorted((e, a, k) for e, a, k in after) == [
        ("exec", "charge", "crashed:charge:1"),
        ("exec", "notify", "crashed:notify:1"),
        ("exec", "ship", "crashed:ship:1"),
    ]
    lines = result.out.splitlines()
    assert lines[0].startswith("resuming flow crashed 'order' (RUNNING) from sqlite:///")
    assert any(line.endswith("  ship SUCCESS") or " ship SUCCESS (" in line for line in lines)
    assert lines[-1] == "flow crashed SUCCESS"
    assert "\r" not in result.out
    # And the stored history shows the resumption and the rerun
    shown = workspace.run("flows", "show", "crashed").out
    assert "executed 2 times (resumed after a crash)" in shown
    history = workspace.run("flows", "history", "crashed").out
    assert "(flow)         RUNNING -> RESUMING" in history
    # And resuming a finished flow does nothing
    again = workspace.run("flows", "resume", "crashed")
    assert again.code == 0
    assert "nothing to do" in again.out
    assert len(_demo.effects(workspace.path)) == len(before) + 3


def test_resume_of_a_flow_that_reverts_exits_1_with_one_line(workspace: Workspace) -> None:
    workspace.store("doomed", crash=True, always_fail=True, lease_ttl=0.5)
    time.sleep(0.6)
    result = workspace.run("flows", "resume", "doomed")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert result.err.startswith("steadyflow: error: flow doomed ended REVERTED: ValueError")
    assert ("revert", "reserve", "doomed:reserve:1") in _demo.effects(workspace.path)


def test_resume_of_a_flow_someone_runs_exits_5(workspace: Workspace) -> None:
    workspace.store("busy", crash=True, lease_ttl=60)
    result = workspace.run("flows", "resume", "busy")
    assert result.code == 5
    assert "holds it" in result.err
    assert result.err.count("\n") == 1


def test_resume_on_a_terminal_redraws_one_status_line(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    workspace.store("crashed", crash=True, lease_ttl=0.5)
    time.sleep(0.6)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    result = workspace.run("flows", "resume", "crashed")
    assert result.code == 0, result.err
    status = result.out.split("\r")
    assert any("2/5 atoms done | running: charge |" in part for part in status)
    assert "5/5 atoms done" in status[-1]
    assert result.out.rstrip().endswith("flow crashed SUCCESS")


def test_revoke_undoes_a_finished_flow(workspace: Workspace) -> None:
    workspace.store("done")
    result = workspace.run("flows", "revoke", "done", "--reason", "customer cancelled")
    assert result.code == 0, result.err
    assert result.out == "flow done reverted here: now REVERTED\n"
    reverts = [(a, k) for e, a, k in _demo.effects(workspace.path) if e == "revert"]
    assert sorted(reverts) == [
        ("charge", "done:charge:1"),
        ("notify", "done:notify:1"),
        ("reserve", "done:reserve:1"),
        ("ship", "done:ship:1"),
    ]
    again = workspace.run("flows", "revoke", "done")
    assert again.out == "flow done was already REVERTED: nothing to undo\n"


def test_show_lists_the_map_elements_that_did_not_simply_succeed(workspace: Workspace) -> None:
    import steadyflow as sf

    # Given a persisted map whose element 2 fails (so the flow reverts)
    def check(item: int) -> int:
        if item == 2:
            raise ValueError(f"item {item} is bad")
        return item

    flow = sf.Linear("batch", sf.Map(check, over="items", provides="checked", name="check"))
    with pytest.raises(ValueError, match="item 2 is bad"):
        sf.run(flow, store={"items": [0, 1, 2]}, backend=workspace.url, flow_id="batch-1")
    # When it is shown
    result = workspace.run("flows", "show", "batch-1")
    # Then the map is marked as one, and its failed element is listed with its key and failure
    assert result.code == 0, result.err
    assert "check [map]" in result.out
    assert "element 2: REVERTED, 1 attempt(s), key batch-1:check[2]:1" in result.out
    assert "failure: ValueError: item 2 is bad" in result.out
    elements = json.loads(workspace.run("flows", "show", "batch-1", "--json").out)["atoms"][0]
    assert [e["state"] for e in elements["elements"]] == ["REVERTED", "REVERTED", "REVERTED"]

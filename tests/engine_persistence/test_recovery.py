"""Targeted crash regressions: the recovery record makes a resumed run decide as the first.

Each test runs a scenario of ``_recovery_worker.py`` in a forked child that
SIGKILLs itself at one chosen effect, then runs it again to its end, and
checks the tasks' own side-effect log and the store: what was stored as done
is not done again, what ran is reverted (again only when a kill interrupted
that very revert), and the resumed run ends as the uninterrupted one would.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from steadyflow.persistence import open_backend
from steadyflow.persistence.models import FlowDetail
from steadyflow.states import AtomState, FlowState

from ._crash_worker import break_lease
from ._forkserver import fork_server

pytestmark = pytest.mark.crash

WORKER = Path(__file__).with_name("_recovery_worker.py")
FLOW_ID = "recovery-flow"
KILLED = -9
SUCCEEDED, REVERTED, FAILED = 0, 3, 4


@pytest.fixture(scope="module")
def server() -> Iterator[subprocess.Popen[str]]:
    """One fork server for the module: each run is a cheap fork of it."""
    with fork_server(WORKER) as process:
        yield process


@pytest.fixture
def url(durable_url: str) -> str:
    return durable_url


@dataclass
class Scenario:
    """One scenario's runs against one store, and what its tasks did."""

    server: subprocess.Popen[str]
    name: str
    url: str
    effects: Path
    engine: str = "serial"

    def run(self, kill_at: str = "-") -> int:
        """Run the scenario once (dying at ``kill_at``, ``event:atom``); its exit code."""
        assert self.server.stdin is not None
        assert self.server.stdout is not None
        command = [self.name, self.url, FLOW_ID, str(self.effects), kill_at, self.engine]
        self.server.stdin.write(" ".join(command) + "\n")
        self.server.stdin.flush()
        word, code = self.server.stdout.readline().split()
        assert word == "exit"
        if int(code) == KILLED:
            # The child is dead, so its lease can be broken rather than waited out.
            break_lease(self.url, FLOW_ID)
        return int(code)

    def log(self) -> list[tuple[str, str, str]]:
        lines = self.effects.read_text().splitlines() if self.effects.exists() else []
        return [(p[0], p[1], p[2]) for p in (line.split() for line in lines)]

    def names(self, event: str) -> list[str]:
        return [name for kind, name, _ in self.log() if kind == event]

    def stored(self) -> FlowDetail:
        with open_backend(self.url) as backend:
            return backend.get_flow_detail(FLOW_ID)


@pytest.fixture
def scenario(server: subprocess.Popen[str], url: str, tmp_path: Path) -> Scenario:
    return Scenario(server, "", url, tmp_path / "effects.log")


@pytest.mark.parametrize("engine", ["parallel", "asyncio"])
def test_a_fan_out_stores_finished_tasks_while_a_slow_one_runs(
    scenario: Scenario, engine: str
) -> None:
    # Given a, b, c (0.1-0.3 s) beside d, which dies once the store shows them done
    # (or after 10 s if it never does), on an engine with nobody listening
    scenario.name, scenario.engine = "fan_out", engine
    # When it is killed while d runs, and run again
    assert scenario.run("stored:d") == KILLED
    assert scenario.run() == SUCCEEDED
    # Then only d ran again: a, b and c were durable before the kill
    assert sorted(scenario.names("exec")) == ["a", "b", "c", "d", "d"]


def test_a_revert_fan_out_stores_finished_reverts_while_a_slow_one_runs(
    scenario: Scenario,
) -> None:
    # Given a, b, c (quick reverts) beside d, whose revert dies once the store shows
    # them reverted (or after 10 s if it never does)
    scenario.name, scenario.engine = "revert_fan_out", "parallel"
    # When it is killed while d reverts, and run again
    assert scenario.run("stored:d") == KILLED
    assert scenario.run() == REVERTED
    # Then only d was reverted again
    assert sorted(scenario.names("revert")) == ["a", "b", "boom", "c", "d", "d"]


def test_map_elements_are_stored_while_a_slow_sibling_runs(scenario: Scenario) -> None:
    # Given map elements of 0.1-0.3 s beside one that dies once they are stored
    scenario.name, scenario.engine = "map_fan_out", "parallel"
    # When it is killed, and run again
    assert scenario.run("stored:m[3]") == KILLED
    assert scenario.run() == SUCCEEDED
    # Then only the killed element ran again, under its first attempt's key
    executed = scenario.names("exec")
    assert sorted(executed) == ["m[0]", "m[1]", "m[2]", "m[3]", "m[3]"]
    keys = {key for kind, name, key in scenario.log() if name == "m[3]"}
    assert keys == {f"{FLOW_ID}:m[3]:1"}


@pytest.mark.parametrize(
    ("engine", "kill_at"),
    [("serial", "revert:m[0]"), ("serial", "revert:m[1]"), ("parallel", "revert:m[1]")],
)
def test_map_elements_reverted_after_a_crash_during_their_revert(
    scenario: Scenario, engine: str, kill_at: str
) -> None:
    # Given a map of three elements followed by a task that fails
    scenario.name, scenario.engine = "map_revert", engine
    # When the process dies while the elements are reverted, and runs again
    assert scenario.run(kill_at) == KILLED
    assert scenario.run() == REVERTED
    # Then every element ran once and each was reverted (again only if interrupted)
    assert sorted(scenario.names("exec")) == ["boom", "m[0]", "m[1]", "m[2]"]
    reverted = scenario.names("revert")
    assert set(reverted) == {"boom", "m[0]", "m[1]", "m[2]"}
    for name in ("m[0]", "m[1]", "m[2]"):
        assert 1 <= reverted.count(name) <= 2
    # and the store shows every element REVERTED, none left REVERTING
    stored = scenario.stored()
    assert stored.state is FlowState.REVERTED
    assert stored.atoms["m"].state is AtomState.REVERTED
    assert stored.atoms["m"].meta["elements"] == [AtomState.REVERTED.value] * 3


def test_an_element_rerun_after_a_crash_keeps_its_idempotency_key(scenario: Scenario) -> None:
    # Given a map of three elements, When the process dies in element 1, and runs again
    scenario.name = "map_rerun"
    assert scenario.run("exec:m[1]") == KILLED
    assert scenario.run() == SUCCEEDED
    # Then element 1 ran twice under one key: the attempt the crash interrupted
    keys = [key for kind, name, key in scenario.log() if kind == "exec" and name == "m[1]"]
    assert keys == [f"{FLOW_ID}:m[1]:1", f"{FLOW_ID}:m[1]:1"]


def test_a_scoped_revert_resumes_as_scoped(scenario: Scenario) -> None:
    # Given an inner flow whose controller gives up, under revert="scope"
    scenario.name = "scoped"
    # When the process dies while that scope is reverted, and runs again
    assert scenario.run("revert:b") == KILLED
    assert scenario.run() == REVERTED
    # Then only the scope was reverted: x, outside it, kept its result
    assert "x" not in scenario.names("revert")
    assert set(scenario.names("revert")) == {"a", "b", "c"}
    stored = scenario.stored()
    assert stored.state is FlowState.REVERTED
    assert stored.atoms["x"].state is AtomState.SUCCESS


def test_a_failed_revert_still_blocks_its_predecessors_after_a_crash(scenario: Scenario) -> None:
    # Given a then b beside e, then d, which fails; b's revert fails
    scenario.name = "blocked"
    # When the process dies in e's revert, after b's revert failed, and runs again
    assert scenario.run("revert:e") == KILLED
    reverted = scenario.names("revert")
    assert reverted.index("b") < reverted.index("e"), reverted
    assert scenario.run() == FAILED
    # Then a, which b's failed revert blocks, was never reverted, and b was not retried
    reverted = scenario.names("revert")
    assert "a" not in reverted
    assert reverted.count("b") == 1
    stored = scenario.stored()
    assert stored.state is FlowState.FAILURE
    assert stored.atoms["b"].state is AtomState.REVERT_FAILURE
    assert stored.atoms["a"].state is AtomState.SUCCESS


def test_a_failed_revert_in_a_retried_scope_escalates_after_a_crash(scenario: Scenario) -> None:
    # Given a retried scope whose member b fails to revert while the scope is undone,
    # beside a task a outside the scope
    scenario.name = "escalated"
    # When the process dies in e's revert, after b's revert failed, and runs again
    assert scenario.run("revert:e") == KILLED
    reverted = scenario.names("revert")
    assert reverted.index("b") < reverted.index("e"), reverted
    assert scenario.run() == FAILED
    # Then the scope was not retried (c ran once): the whole flow was reverted, a too
    assert scenario.names("exec").count("c") == 1
    assert "a" in scenario.names("revert")
    assert scenario.stored().state is FlowState.FAILURE

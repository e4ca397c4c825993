"""Revoking a flow that another process runs, and dying while the revoke's revert runs.

The runner is a forked child of ``_revoke_worker.py``; the revoke is asked for
from this process with ``sf.revoke``, which can only leave a stored request
(the child holds the lease). What happened is read from the tasks' own effect
log and from the store, never from timings.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import steadyflow as sf
from steadyflow.engine._revoke import delete_request, read_request
from steadyflow.persistence import open_backend
from steadyflow.states import AtomState, FlowState

from ._crash_worker import break_lease
from ._forkserver import fork_server
from ._revoke_flows import effects

pytestmark = pytest.mark.crash

WORKER = Path(__file__).with_name("_revoke_worker.py")
FLOW_ID = "revoked-flow"
KILLED, REVOKED, REQUESTED = -9, 5, 6


@pytest.fixture(scope="module")
def server() -> Iterator[subprocess.Popen[str]]:
    """One fork server for the module: each action is a cheap fork of it."""
    with fork_server(WORKER) as process:
        yield process


@pytest.fixture
def url(durable_url: str) -> str:
    return durable_url


class Child:
    """Starts actions in forked children and collects their exit codes."""

    def __init__(self, server: subprocess.Popen[str], url: str, log: Path) -> None:
        self.server = server
        self.url = url
        self.log = log

    def start(self, action: str, kill_at: str = "-") -> None:
        assert self.server.stdin is not None
        self.server.stdin.write(f"{action} {self.url} {FLOW_ID} {self.log} {kill_at}\n")
        self.server.stdin.flush()

    def wait(self) -> int:
        assert self.server.stdout is not None
        word, code = self.server.stdout.readline().split()
        assert word == "exit"
        if int(code) == KILLED:
            # The child is dead, so its lease can be broken rather than waited out.
            break_lease(self.url, FLOW_ID)
        return int(code)

    def do(self, action: str, kill_at: str = "-") -> int:
        self.start(action, kill_at)
        return self.wait()

    def wait_for_effect(self, effect: tuple[str, str]) -> None:
        """Wait (10 s at most) until the tasks logged ``effect``."""
        for _ in range(1000):
            if effect in effects(self.log):
                return
            time.sleep(0.01)
        raise AssertionError(f"{effect} never happened: {effects(self.log)}")

    def names(self, event: str) -> list[str]:
        return [name for kind, name in effects(self.log) if kind == event]


@pytest.fixture
def child(server: subprocess.Popen[str], url: str, tmp_path: Path) -> Child:
    return Child(server, url, tmp_path / "effects.log")


def _stored_state(url: str) -> tuple[FlowState, set[AtomState]]:
    with open_backend(url) as backend:
        stored = backend.get_flow_detail(FLOW_ID)
        return stored.state, {atom.state for atom in stored.atoms.values()}


def test_a_runner_in_another_process_obeys_a_stored_revoke(child: Child, url: str) -> None:
    # Given a run in another process, inside its slow task b
    child.start("run")
    child.wait_for_effect(("exec", "b"))
    # When it is revoked from here
    outcome = sf.revoke(url, FLOW_ID, "stop", requested_by="test")
    # Then only a request was stored, and the runner reverted the flow itself
    assert outcome.outcome == "requested"
    assert child.wait() == REVOKED
    assert child.names("exec") == ["a", "b"]
    assert child.names("revert") == ["b", "a"]
    assert _stored_state(url)[0] is FlowState.REVERTED
    with open_backend(url) as backend:
        assert read_request(backend, FLOW_ID) is None


def test_sigkill_during_a_revoked_runs_revert_resumes_the_revert(child: Child, url: str) -> None:
    # Given a run in another process that is revoked inside b and dies reverting a
    child.start("run", kill_at="revert:a")
    child.wait_for_effect(("exec", "b"))
    assert sf.revoke(url, FLOW_ID, "stop").outcome == "requested"
    assert child.wait() == KILLED
    # When the stored request is gone (the flow's recovery record alone must say it)
    # and the flow is resumed as usual
    with open_backend(url) as backend:
        delete_request(backend, FLOW_ID)
    # Then the resumed run finishes the revert and runs nothing forward
    assert child.do("resume") == REVOKED
    assert child.names("exec") == ["a", "b"]
    assert child.names("revert") == ["b", "a", "a"]
    assert _stored_state(url)[0] is FlowState.REVERTED


def test_sigkill_during_the_revoke_of_a_finished_flow_resumes_the_revert(
    child: Child, url: str
) -> None:
    # Given a flow that ran to SUCCESS in another process (b not held)
    Path(f"{child.log}.release").touch()
    assert child.do("run") == 0
    # When a process revoking it dies while reverting b, and the flow is resumed as usual
    assert child.do("revoke", kill_at="revert:b") == KILLED
    assert child.do("resume") == REVOKED
    # Then b's revert is done again (it was interrupted), then a's; nothing ran forward
    assert child.names("exec") == ["a", "b", "c"]
    assert child.names("revert") == ["c", "b", "b", "a"]
    assert _stored_state(url) == (FlowState.REVERTED, {AtomState.REVERTED})

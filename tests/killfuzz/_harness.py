"""Drives kill campaigns: start a runner, kill it at a random moment, resume, repeat.

A :class:`RunnerServer` wraps the fork server of ``_child.py``; a
:class:`Campaign` runs one flow of one shape against one store through
several kills (SIGKILL, SIGSTOP past the lease, or the store's sessions
terminated), snapshots the store after each, lets the flow finish, and hands
the evidence to :mod:`._invariants`. Every random choice comes from one
seeded RNG, and the seed is in every failure message, so a failing campaign
can be replayed with ``STEADYFLOW_KILLFUZZ_SEED``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steadyflow.errors import NotFoundError
from steadyflow.persistence import Backend, FlowDetail

from . import _invariants
from ._child import EXIT_ERROR, EXIT_LEASE_LOST, EXIT_LOCKED
from ._shapes import SHAPES

TESTS_DIR = Path(__file__).resolve().parents[1]
ENDINGS = frozenset({0, 3, 4})
FINISH_TRIES = 8  # unkilled runs allowed to end the flow after the kills
SEED_ENV = "STEADYFLOW_KILLFUZZ_SEED"


def campaign_seed() -> int:
    """The seed to use: from the environment when replaying, else a fresh one."""
    given = os.environ.get(SEED_ENV)
    return int(given) if given else random.SystemRandom().randrange(2**32)


class RunnerServer:
    """The fork server: starts runners, reports their pids and exit codes."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), *sys.path])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "killfuzz._child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._pids: queue.Queue[int] = queue.Queue()
        self._exits: dict[int, int] = {}
        self._ended = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            word, *rest = line.split()
            if word == "pid":
                self._pids.put(int(rest[0]))
            elif word == "exit":
                with self._ended:
                    self._exits[int(rest[0])] = int(rest[1])
                    self._ended.notify_all()

    def start(self, command: dict[str, Any]) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._pids.get(timeout=30)

    def exit_code(self, pid: int) -> int | None:
        with self._ended:
            return self._exits.get(pid)

    def wait(self, pid: int, timeout: float = 60) -> int:
        with self._ended:
            if not self._ended.wait_for(lambda: pid in self._exits, timeout):
                os.kill(pid, signal.SIGKILL)
                self._ended.wait_for(lambda: pid in self._exits, 10)
                raise AssertionError(f"runner {pid} hung for {timeout} s; killed")
            return self._exits[pid]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()


@dataclass
class Campaign:
    """One flow of one shape, run through kills until it ends."""

    shape: str
    url: str
    backend: Backend
    server: RunnerServer
    effects: Path
    seed: int
    lease_ttl: float | None = None
    flow_id: str = "fuzzed-flow"
    kills: int = 0
    revert_kills: int = 0  # of which landed while the flow was reverting
    exit_code: int | None = None
    snapshots: list[_invariants.Snapshot] = field(default_factory=list)
    zombies: dict[int, float] = field(default_factory=dict)
    problems: list[_invariants.Violation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # -- evidence ------------------------------------------------------------------------

    def lines(self) -> list[str]:
        if not self.effects.exists():
            return []
        return self.effects.read_text().splitlines()

    def snapshot(self) -> FlowDetail | None:
        """Read the stored flow now, as the next runner would find it."""
        try:
            flow: FlowDetail | None = self.backend.get_flow_detail(self.flow_id)
        except NotFoundError:
            flow = None
        self.snapshots.append(_invariants.Snapshot(len(self.lines()), flow))
        return flow

    def violations(self) -> list[_invariants.Violation]:
        spec = SHAPES[self.shape]
        expect = _invariants.Expectation(
            spec.ends, spec.kept, spec.never_run, spec.never_reverted, spec.revert_failed
        )
        found = list(self.problems)
        found += _invariants.check_all(
            self.lines(),
            self.snapshots,
            self.exit_code,
            expect,
            zombies=self.zombies,
        )
        return found

    def describe(self, found: list[_invariants.Violation]) -> str:
        head = (
            f"shape {self.shape} on {self.url.split(':')[0]}, seed {self.seed} ({SEED_ENV}), "
            f"{self.kills} kills, {len(found)} violations: "
            + ", ".join(sorted({v.kind for v in found}))
        )
        more = f"\n  ... and {len(found) - 15} more" if len(found) > 15 else ""
        return head + "".join(f"\n  {v}" for v in found[:15]) + more

    # -- running -------------------------------------------------------------------------

    def start(self) -> int:
        command = {
            "url": self.url,
            "flow_id": self.flow_id,
            "effects": str(self.effects),
            "shape": self.shape,
            "lease_ttl": self.lease_ttl,
        }
        return self.server.start(command)

    def settle(self, pid: int) -> int:
        """Wait for ``pid`` to end, snapshot the store, note how it ended."""
        code = self.server.wait(pid)
        self.snapshot()
        if code in ENDINGS:
            self.exit_code = code
        elif code == EXIT_ERROR:
            self._runner_error(pid)
        return code

    def _runner_error(self, pid: int) -> None:
        errors = Path(str(self.effects) + ".err")
        text = errors.read_text() if errors.exists() else "(no traceback)"
        last = [line for line in text.splitlines() if line.strip()][-3:]
        self.problems.append(
            _invariants.Violation("runner-error", f"runner {pid} failed", tuple(last))
        )

    def wait_for_lines(self, pid: int, target: int) -> bool:
        """Wait until the log has ``target`` lines; False if ``pid`` ended first."""
        while self.server.exit_code(pid) is None:
            if len(self.lines()) >= target:
                return True
            time.sleep(0.0005)
        return False

    def pick_moment(self, pid: int) -> bool:
        """Wait for a random moment of ``pid``'s run; False if it ended before."""
        if self.rng.random() < 0.15:
            time.sleep(self.rng.uniform(0, 0.03))  # during load, resume, or the first step
            return self.server.exit_code(pid) is None
        if not self.wait_for_lines(pid, len(self.lines()) + self.rng.randint(1, 3)):
            return False
        time.sleep(self.rng.uniform(0, 0.004))
        return True

    def run_until_done(self, kill: Callable[[Campaign, int], None], budget: int) -> None:
        """Up to ``budget`` runs each hit by ``kill`` at a random moment, then plain runs."""
        for _ in range(budget):
            if self.exit_code is not None:
                return
            pid = self.start()
            if self.pick_moment(pid):
                kill(self, pid)
            self.wait_out_lock(self.settle(pid))
        self.finish()

    def finish(self) -> None:
        """Run unkilled until the flow ends (a locked flow is retried once the lease lapses)."""
        for _ in range(FINISH_TRIES):
            if self.exit_code is not None:
                return
            self.wait_out_lock(self.settle(self.start()))
        self.problems.append(_invariants.Violation("never-ended", "the flow never ended"))

    def wait_out_lock(self, code: int) -> None:
        if code == EXIT_LOCKED:
            time.sleep(self.lease_ttl or 0.05)


def sigkill(campaign: Campaign, pid: int) -> None:
    """The plain crash: the runner dies with everything it held."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
        campaign.kills += 1
        lines = campaign.lines()
        campaign.revert_kills += bool(lines) and lines[-1].startswith("revert")


def sigstop_past_lease(campaign: Campaign, pid: int) -> None:
    """Pause the runner beyond its lease; another takes over; then let the first go on.

    The paused runner must notice it lost the lease, write nothing, and stop
    (exit LeaseLostError); unless the flow had already ended when it was paused.
    """
    assert campaign.lease_ttl is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGSTOP)
    campaign.zombies[pid] = time.time()
    campaign.kills += 1
    paused = campaign.snapshot()
    successor = _take_over(campaign)
    if successor is not None and campaign.rng.random() < 0.5 and campaign.pick_moment(successor):
        sigkill(campaign, successor)
    if successor is not None:
        campaign.settle(successor)
    os.kill(pid, signal.SIGCONT)
    code = campaign.server.wait(pid)
    already_over = paused is not None and paused.state.value in ("SUCCESS", "REVERTED", "FAILURE")
    if code != EXIT_LEASE_LOST and not already_over:
        campaign.problems.append(
            _invariants.Violation(
                "zombie-went-on", f"paused runner {pid} exited {code}, not LeaseLostError"
            )
        )


def _take_over(campaign: Campaign) -> int | None:
    """Start runners until one gets the lease (the paused one's must lapse first)."""
    assert campaign.lease_ttl is not None
    deadline = time.monotonic() + 20 * campaign.lease_ttl + 10
    while time.monotonic() < deadline:
        pid = campaign.start()
        while campaign.server.exit_code(pid) is None and not campaign.lines():
            time.sleep(0.001)
        if campaign.server.exit_code(pid) != EXIT_LOCKED:
            time.sleep(0.005)
            if campaign.server.exit_code(pid) != EXIT_LOCKED:
                return pid
        campaign.server.wait(pid)
        time.sleep(campaign.lease_ttl / 4)
    campaign.problems.append(_invariants.Violation("no-takeover", "nobody took the lease over"))
    return None


def session_killer(terminate: Callable[[], int]) -> Callable[[Campaign, int], None]:
    """A kill that terminates the runner's database sessions instead of the runner.

    ``terminate`` ends every session of the test's store but the test's own
    and says how many it ended. The runner may carry on (reconnecting) or fail;
    either way the flow must end right, and the lease must not have been freed
    for anyone else meanwhile (checked by the overlap invariant).
    """

    def kill(campaign: Campaign, pid: int) -> None:
        campaign.kills += terminate() > 0

    return kill

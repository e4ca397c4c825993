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
import sqlite3
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
from steadyflow.states import AtomState, FlowState

from . import _invariants
from ._child import EXIT_ERROR, EXIT_LEASE_LOST, EXIT_LOCKED, EXIT_UNAVAILABLE
from ._shapes import SHAPES

TESTS_DIR = Path(__file__).resolve().parents[1]
ENDINGS = frozenset({0, 3, 4})
FINISH_TRIES = 8  # unkilled runs allowed to end the flow after the kills
MAX_FLOWS = 12  # fresh flows a campaign may start to land its budget of kills
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
    # cutting the store's sessions may stop a runner with BackendUnavailableError:
    # an infrastructure error, counted in ``unavailable`` rather than a violation
    tolerate_unavailable: bool = False
    flow_id: str = "fuzzed-flow"
    unavailable: int = 0
    kills: int = 0
    revert_kills: int = 0  # of which landed while the flow was reverting
    # pauses that froze a runner holding SQLite's write lock: no takeover is possible
    # (a documented limit of the embedded store), so they are not counted as kills
    frozen_writers: int = 0
    exit_code: int | None = None
    snapshots: list[_invariants.Snapshot] = field(default_factory=list)
    zombies: dict[int, float] = field(default_factory=dict)
    # paused runner -> keys it had stored RUNNING or REVERTING (handed to its executor)
    handed: dict[int, frozenset[str]] = field(default_factory=dict)
    problems: list[_invariants.Violation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}/{self.flow_id}")

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
            handed=self.handed,
        )
        return found

    def reruns(self) -> int:
        """Exec lines repeating an attempt that had already run to its end.

        At-least-once allows them after a kill; how many there are per kill
        shows how much finished work a crash throws away.
        """
        done: set[str] = set()
        count = 0
        for line in self.lines():
            event, _, key, *_, outcome = line.split()
            if event == "exec":
                count += key in done
                if outcome == "ok":
                    done.add(key)
        return count

    def describe(self, found: list[_invariants.Violation]) -> str:
        head = (
            f"shape {self.shape} on {self.url.split(':')[0]}, seed {self.seed} ({SEED_ENV}), "
            f"flow {self.flow_id}, "
            f"{self.kills} kills, {self.reruns()} re-executions, "
            + (f"{self.unavailable} runners stopped by a lost store, " if self.unavailable else "")
            + (f"{self.frozen_writers} paused holding SQLite's lock, " * bool(self.frozen_writers))
            + f"{len(found)} violations: "
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
        elif code == EXIT_UNAVAILABLE and self.tolerate_unavailable:
            self.unavailable += 1
        elif code in (EXIT_ERROR, EXIT_UNAVAILABLE):
            self._runner_error(pid)
        return code

    def _runner_error(self, pid: int) -> None:
        errors = Path(str(self.effects) + ".err")
        text = errors.read_text() if errors.exists() else "(no traceback)"
        last = [line for line in text.splitlines() if line.strip()][-3:]
        self.problems.append(
            _invariants.Violation("runner-error", f"runner {pid} failed", tuple(last))
        )

    def count(self, event: str) -> int:
        return sum(1 for line in self.lines() if line.startswith(event))

    def wait_for_lines(self, pid: int, event: str, target: int) -> bool:
        """Wait for ``target`` lines starting with ``event``; False if ``pid`` ended first."""
        while self.server.exit_code(pid) is None:
            if self.count(event) >= target:
                return True
            time.sleep(0.0005)
        return False

    def pick_moment(self, pid: int) -> bool:
        """Wait for a random moment of ``pid``'s run; False if it ended before.

        Now and then right after the start (during load or resume); else 1-3
        effects on (0-4 ms later), and for shapes that revert, 40% of the
        time 1-3 *reverts* on, so that kills land all along reverts too.
        """
        if self.rng.random() < 0.15:
            time.sleep(self.rng.uniform(0, 0.03))
            return self.server.exit_code(pid) is None
        reverts = SHAPES[self.shape].ends is not FlowState.SUCCESS or self.count("revert") > 0
        event = "revert" if reverts and self.rng.random() < 0.4 else ""
        if not self.wait_for_lines(pid, event, self.count(event) + self.rng.randint(1, 3)):
            return False
        time.sleep(self.rng.uniform(0, 0.004))
        return True

    def run_until_done(self, kill: Callable[[Campaign, int], None], budget: int) -> None:
        """Runs hit by ``kill`` at a random moment until ``budget`` kills landed, then plain runs.

        A run that ends before its moment comes is not killed; the flow
        ending stops the kills early (short shapes have fewer moments).
        """
        for _ in range(6 * budget):  # runs that end (or find the flow locked) land no kill
            if self.exit_code is not None or self.kills >= budget:
                break
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
        if code in (EXIT_LOCKED, EXIT_UNAVAILABLE):
            time.sleep(self.lease_ttl or 0.05)


def fuzz(
    shape: str,
    url: str,
    backend: Backend,
    server: RunnerServer,
    workdir: Path,
    kill: Callable[[Campaign, int], None],
    budget: int,
    **options: Any,
) -> list[Campaign]:
    """Campaigns over fresh flows of ``shape`` until ``budget`` kills landed (MAX_FLOWS at most).

    A short shape ends before many kills land (a six-effect flow often runs
    to its end before its moment comes); further flows (each with its own id
    and effects log, and an RNG derived from the one seed) make up the
    budget. ``options`` go to :class:`Campaign` (``lease_ttl``...).
    """
    seed = campaign_seed()
    campaigns: list[Campaign] = []
    while len(campaigns) < MAX_FLOWS and sum(c.kills for c in campaigns) < budget:
        flow = len(campaigns)
        campaign = Campaign(
            shape,
            url,
            backend,
            server,
            workdir / f"effects-{flow}.log",
            seed,
            flow_id=f"fuzzed-{flow}",
            **options,
        )
        campaign.run_until_done(kill, budget - sum(c.kills for c in campaigns))
        campaigns.append(campaign)
    return campaigns


def sigkill(campaign: Campaign, pid: int) -> None:
    """The plain crash: the runner dies with everything it held."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
        campaign.kills += 1
        lines = campaign.lines()
        campaign.revert_kills += bool(lines) and lines[-1].startswith("revert")


def _named_in_lease(campaign: Campaign, pid: int) -> bool:
    """Whether the flow's lease row names runner ``pid``, live or lapsed.

    Owner ids end with the pid. A lapsed lease nobody took over yet is still
    its holder's (it may renew it), so the row is read as stored, not through
    ``get_lease``, which only shows live leases.
    """
    query = "SELECT owner FROM steadyflow_leases WHERE flow_uuid = ?"
    if campaign.url.startswith("sqlite"):
        db = sqlite3.connect(campaign.url.split("///", 1)[1], timeout=5)
        try:
            row = db.execute(query, (campaign.flow_id,)).fetchone()
        finally:
            db.close()
    else:
        from sqlalchemy import text

        engine = campaign.backend.engine  # type: ignore[attr-defined]
        with engine.connect() as connection:
            named = text(query.replace("?", ":flow"))
            row = connection.execute(named, {"flow": campaign.flow_id}).first()
    owner = None if row is None else row[0]
    return owner is not None and str(owner).rsplit(".", 1)[-1] == str(pid)


def sigstop_past_lease(campaign: Campaign, pid: int) -> None:
    """Pause the runner beyond its lease; another takes over; then let the first go on.

    The successor is SIGKILLed at a random moment half the time (it advanced
    the flow), else runs to the end. The paused runner is continued after
    the successor ended (then the store must not change at all while it
    finishes), or now and then while the successor still runs. Either way it
    must notice it lost the lease and stop with LeaseLostError (or
    FlowLockedError, paused before it got the lease), unless the flow had
    already ended when it was paused.

    On SQLite, a runner paused inside a write transaction holds the file's
    write lock, which blocks every other writer until it resumes: nobody can
    take over (the documented limit of the embedded store). It still owns the
    flow, so it is continued at once and its run is checked like an
    uninterrupted one; a pause between transactions is taken over as usual.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGSTOP)
    stopped = _stopped(pid)  # the signal lands a moment later: bodies may start meanwhile
    paused_at = time.time()
    if not stopped:
        # It ended before the signal landed (or never stopped): no pause, no kill.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        return
    if _frozen_holding_sqlite_write_lock(campaign, pid):
        campaign.frozen_writers += 1
        os.kill(pid, signal.SIGCONT)
        return
    campaign.kills += 1
    # A runner paused before it held the lease is no zombie: once continued it is a
    # late runner like any other (refused, or, when the successor was killed and its
    # lease ran out meanwhile, it takes the free lease and carries on, as it may).
    # One whose lease had lapsed unnoticed (a starved renewal) still is one.
    held = _named_in_lease(campaign, pid)
    if held:
        campaign.zombies[pid] = paused_at
    at_pause = campaign.snapshot()
    if at_pause is not None:
        states = (AtomState.RUNNING, AtomState.REVERTING)
        campaign.handed[pid] = frozenset(
            key for state in states for key in _invariants.keys_in_state(at_pause, state)
        )
    successor, found = _take_over(campaign)
    side_by_side = successor is not None and campaign.rng.random() < 0.3
    if successor is not None and campaign.rng.random() < 0.5 and campaign.pick_moment(successor):
        sigkill(campaign, successor)
    if successor is not None and not side_by_side:
        campaign.settle(successor)
    before = campaign.snapshot()
    os.kill(pid, signal.SIGCONT)
    code = campaign.server.wait(pid)
    after = campaign.snapshot()
    if successor is not None and side_by_side:
        campaign.settle(successor)
    elif held and not _same(before, after):
        campaign.problems.append(
            _invariants.Violation(
                "zombie-wrote", f"the store changed while paused runner {pid} went on"
            )
        )
    # paused before it got the lease, it finds the flow locked: as good
    # Ended already: judged by the flow as the successor found it (a commit the
    # runner had sent just before the pause may land a moment after it). Or paused
    # before it took the lease (a runner that held it is fenced at its next write,
    # or when it finishes loading), it takes the lease once free, and reports the
    # end the successor stored without changing anything; side by side, that is
    # known only when nothing was stored yet when it was paused.
    over = (
        not held
        or _ended(found)
        or (not side_by_side and _ended(before) and _same(before, after))
        or (side_by_side and found is None)
    )
    if code not in (EXIT_LEASE_LOST, EXIT_LOCKED) and not over:
        campaign.problems.append(
            _invariants.Violation(
                "zombie-went-on", f"paused runner {pid} exited {code}, not LeaseLostError"
            )
        )


def _frozen_holding_sqlite_write_lock(campaign: Campaign, pid: int) -> bool:
    """Whether paused ``pid`` is stopped while holding its SQLite store's write lock.

    No other runner is alive and the test's own reads take no write lock, so
    once ``pid`` is stopped, a write lock nobody can take is its own.
    """
    if not campaign.url.startswith("sqlite"):
        return False
    path = campaign.url.split("///", 1)[1]
    probe = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        return True
    finally:
        probe.close()
    return False


def _stopped(pid: int) -> bool:
    """Wait until ``pid`` is in the stopped state (SIGSTOP is delivered asynchronously)."""
    for _ in range(2000):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        state = stat.rpartition(")")[2].split()[0]
        if state in ("T", "t"):
            return True
        if state in ("Z", "X"):
            return False
        time.sleep(0.0005)
    return False


def _ended(flow: FlowDetail | None) -> bool:
    return flow is not None and flow.state.value in ("SUCCESS", "REVERTED", "FAILURE")


def _same(before: FlowDetail | None, after: FlowDetail | None) -> bool:
    if before is None or after is None:
        return before is after
    return before.to_dict() == after.to_dict()


def _take_over(campaign: Campaign) -> tuple[int | None, FlowDetail | None]:
    """Start runners until one holds the lease (the paused one's must lapse first).

    Returns that runner (None if it ended at once, or nobody got in) and the
    flow as stored just before it started.

    A runner holds it once it writes an effect or ends other than locked. A
    paused runner stopped inside a transaction keeps the lease row locked;
    the servers end such a session after ``IDLE_TRANSACTION_SECONDS``, so a
    successor still failing to get in by the deadline is reported
    (``no-takeover``), not waited out.
    """
    assert campaign.lease_ttl is not None
    deadline = time.monotonic() + 6 * campaign.lease_ttl + 3
    found = None
    while time.monotonic() < deadline:
        found = campaign.snapshot()
        count = len(campaign.lines())
        pid = campaign.start()
        while campaign.server.exit_code(pid) is None and time.monotonic() < deadline:
            if len(campaign.lines()) > count:
                return pid, found
            time.sleep(0.001)
        code = campaign.server.exit_code(pid)
        if code is None:
            break
        if code != EXIT_LOCKED:  # it got the lease and ended already
            campaign.settle(pid)
            return None, found
        time.sleep(campaign.lease_ttl / 4)
    else:
        pid = None
    if pid is not None and campaign.server.exit_code(pid) is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        campaign.settle(pid)
    campaign.problems.append(_invariants.Violation("no-takeover", "nobody took the lease over"))
    return None, found


def session_killer(terminate: Callable[[], int], times: int = 3) -> Callable[[Campaign, int], None]:
    """A kill that terminates the runner's database sessions, not the runner.

    ``terminate`` ends every session of the test's store but the test's own
    and says how many it ended; it is called up to ``times`` times during the
    run, at random moments. The runner may carry on (reconnecting) or stop
    with an error; either way the flow must end right, and nobody else may
    have run it meanwhile (the overlap invariant).
    """

    def kill(campaign: Campaign, pid: int) -> None:
        for _ in range(times):
            campaign.kills += terminate() > 0
            if not campaign.pick_moment(pid):
                return

    return kill

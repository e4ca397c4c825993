"""Real crashes: a subprocess runs a persisted chain and is SIGKILLed at random moments.

Each test restarts the worker until it finishes and then checks, from the
side-effect file and the store alone, that every task ran, that nothing
stored as SUCCESS ran again, that the results are right, that reverts ran in
exact reverse order (even when a kill interrupted one), and that no snapshot
of the store taken after a kill shows an impossible state.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from steadyflow.errors import NotFoundError
from steadyflow.persistence import Backend, FlowDetail, open_backend
from steadyflow.states import AtomState, FlowState

pytestmark = pytest.mark.crash

WORKER = Path(__file__).with_name("_crash_worker.py")
SIZE = 8
KILLS = 7  # per test: 2 modes x 3 databases x up to 7: about 40 kills per full run
FLOW_ID = "crashy-flow"

TARGETS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]

_LETTER = {
    AtomState.PENDING: "P",
    AtomState.RUNNING: "U",
    AtomState.SUCCESS: "S",
    AtomState.FAILURE: "F",
    AtomState.REVERTING: "R",
    AtomState.REVERTED: "V",
}
# What a serial chain's atom states (in chain order) may look like, per flow state.
_POSSIBLE = {
    FlowState.PENDING: re.compile(r"P*"),
    FlowState.RUNNING: re.compile(r"S*[UF]?P*"),
    FlowState.SUCCESS: re.compile(r"S*"),
    FlowState.REVERTING: re.compile(r"S*[FR]?V*"),
    FlowState.REVERTED: re.compile(r"V*"),
}


@pytest.fixture(params=TARGETS)
def crash_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    name = request.param
    if name == "sqlite":
        return f"sqlite:///{tmp_path}/crash.db"
    url: str = request.getfixturevalue("postgres_url" if name == "postgresql" else "mysql_url")
    return url


@dataclass
class Campaign:
    """Runs, kills and restarts the worker; keeps what each kill left behind."""

    url: str
    effects: Path
    mode: str
    rng: random.Random
    kills: int = 0
    # (lines in the effects file, stored flow) right after each kill
    snapshots: list[tuple[int, FlowDetail | None]] = field(default_factory=list)
    exit_code: int | None = None

    def lines(self) -> list[str]:
        if not self.effects.exists():
            return []
        return self.effects.read_text().splitlines()

    def count(self, event: str) -> int:
        return sum(1 for line in self.lines() if line.startswith(event))

    def run_once(self, server: subprocess.Popen[str], kill_at: tuple[str, int] | None) -> None:
        """Run the chain once; with ``kill_at=(event, n)``, SIGKILL it once n such lines exist."""
        assert server.stdin is not None
        assert server.stdout is not None
        command = [self.url, FLOW_ID, str(self.effects), str(SIZE), self.mode]
        server.stdin.write(" ".join(command) + "\n")
        server.stdin.flush()
        first, second = server.stdout.readline().split(), server.stdout.readline().split()
        started = {first[0]: first[1:], second[0]: second[1:]}
        assert set(started) == {"pid", "ready"}, f"worker did not start: {first} {second}"
        pid = int(started["pid"][0])
        if kill_at is not None and self._wait_for(pid, *kill_at):
            time.sleep(self.rng.uniform(0, 0.005))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        code = int(server.stdout.readline().split()[1])
        if code == -signal.SIGKILL:
            self.kills += 1
            return
        assert code in (0, 3), f"worker exited {code}"
        self.exit_code = code

    def _wait_for(self, pid: int, event: str, target: int) -> bool:
        """Wait for ``target`` lines of ``event``; False if the child ended first."""
        while _alive(pid):
            if self.count(event) >= target:
                return True
            time.sleep(0.0005)
        return False

    def snapshot(self, backend: Backend) -> None:
        try:
            flow: FlowDetail | None = backend.get_flow_detail(FLOW_ID)
        except NotFoundError:
            flow = None
        self.snapshots.append((len(self.lines()), flow))

    def kill_point(self, index: int) -> tuple[str, int]:
        """Where run ``index`` is killed: after one more effect (then 0-5 ms more),
        now and then right after it started. In ``fail`` mode kills allow a few
        effects (a re-run repeats the interrupted one) and the later half wait
        for reverts, so that kills land all along the revert too."""
        event = "revert" if self.mode == "fail" and index >= KILLS // 2 else ""
        if self.rng.random() < 0.15:
            return event, self.count(event)
        more = self.rng.randint(1, 3 if event else 2) if self.mode == "fail" else 1
        return event, self.count(event) + more

    def run(self, backend: Backend) -> None:
        server = subprocess.Popen(
            [sys.executable, str(WORKER), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            for index in range(KILLS):
                self.run_once(server, self.kill_point(index))
                self.snapshot(backend)
                if self.exit_code is not None:
                    break
            for _ in range(5):
                if self.exit_code is not None:
                    break
                self.run_once(server, None)
            self.snapshot(backend)
        finally:
            assert server.stdin is not None
            assert server.stdout is not None
            server.stdin.close()
            server.wait(timeout=30)
            server.stdout.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _events(lines: list[str], event: str) -> list[tuple[str, str]]:
    return [(p[1], p[2]) for p in (line.split() for line in lines) if p[0] == event]


def _collapse(names: list[str]) -> list[str]:
    """Drop consecutive repeats: a revert re-run after a crash interrupted it."""
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


def _word(flow: FlowDetail | None) -> str:
    if flow is None:
        return "-"
    states = [
        flow.atoms[f"t{i}"].state if f"t{i}" in flow.atoms else AtomState.PENDING
        for i in range(SIZE)
    ]
    return flow.state.value[:3] + ":" + "".join(_LETTER[s] for s in states)


def _check_possible(flow: FlowDetail | None, seed: int) -> None:
    if flow is None:
        return
    names = [f"t{i}" for i in range(SIZE)]
    word = _word(flow).partition(":")[2]
    pattern = _POSSIBLE.get(flow.state)
    assert pattern is not None, f"seed {seed}: flow stored as {flow.state}"
    assert pattern.fullmatch(word), f"seed {seed}: flow {flow.state} with atoms {word}"
    for index, name in enumerate(names):
        atom = flow.atoms.get(name)
        if atom is None or atom.state is AtomState.PENDING:
            continue
        assert atom.meta["attempt"] == 1, f"seed {seed}: {name} attempt {atom.meta}"
        if atom.state is AtomState.SUCCESS:
            assert atom.result == index + 1, f"seed {seed}: {name} result {atom.result}"


def _check_no_success_rerun(campaign: Campaign, lines: list[str], seed: int) -> None:
    for count, flow in campaign.snapshots:
        if flow is None:
            continue
        done = {n for n, a in flow.atoms.items() if a.state is AtomState.SUCCESS}
        again = [name for name, _ in _events(lines[count:], "exec") if name in done]
        assert not again, f"seed {seed}: {again} ran again after being stored as SUCCESS"


def _campaign(url: str, tmp_path: Path, mode: str) -> tuple[Campaign, list[str], int, Backend]:
    seed = random.SystemRandom().randrange(2**32)
    campaign = Campaign(url, tmp_path / "effects.log", mode, random.Random(seed))
    backend = open_backend(url)
    campaign.run(backend)
    assert campaign.exit_code == (0 if mode == "pass" else 3), f"seed {seed}: never finished"
    assert campaign.kills >= KILLS - 1, f"seed {seed}: only {campaign.kills} kills landed"
    for _, flow in campaign.snapshots:
        _check_possible(flow, seed)
    if os.environ.get("STEADYFLOW_CRASH_DEBUG"):
        print(seed, campaign.kills, [_word(flow) for _, flow in campaign.snapshots])
    return campaign, campaign.lines(), seed, backend


def test_a_chain_killed_at_random_finishes_exactly(crash_url: str, tmp_path: Path) -> None:
    campaign, lines, seed, backend = _campaign(crash_url, tmp_path, "pass")
    try:
        executed = _events(lines, "exec")
        names = [f"t{i}" for i in range(SIZE)]
        # every task ran, in order (a re-run repeats the task it interrupted)
        assert _collapse([n for n, _ in executed]) == names, f"seed {seed}: {executed}"
        # every run of a task used its one idempotency key
        for name, key in executed:
            assert key == f"{FLOW_ID}:{name}:1", f"seed {seed}: {name} ran with {key}"
        _check_no_success_rerun(campaign, lines, seed)
        final = backend.get_flow_detail(FLOW_ID)
        assert final.state is FlowState.SUCCESS
        assert [final.atoms[n].result for n in names] == list(range(1, SIZE + 1))
        assert not _events(lines, "revert")
    finally:
        backend.close()


def test_a_late_failure_reverts_in_reverse_order_despite_kills(
    crash_url: str, tmp_path: Path
) -> None:
    campaign, lines, seed, backend = _campaign(crash_url, tmp_path, "fail")
    try:
        names = [f"t{i}" for i in range(SIZE)]
        assert _collapse([n for n, _ in _events(lines, "exec")]) == names, f"seed {seed}"
        reverted = [n for n, _ in _events(lines, "revert")]
        assert _collapse(reverted) == names[::-1], f"seed {seed}: reverts {reverted}"
        first_revert = lines.index(next(ln for ln in lines if ln.startswith("revert")))
        assert not [ln for ln in lines[first_revert:] if ln.startswith("exec")], f"seed {seed}"
        _check_no_success_rerun(campaign, lines, seed)
        final = backend.get_flow_detail(FLOW_ID)
        assert final.state is FlowState.REVERTED
        assert all(final.atoms[n].state is AtomState.REVERTED for n in names)
        assert final.atoms[names[-1]].failure is not None
    finally:
        backend.close()

"""A farm of conductors booting VMs: one is killed mid-boot, another finishes its job.

Two VM-boot jobs are posted to a job board in a SQLite file. Conductor
``alpha`` (a process of its own) claims the first and is killed with SIGKILL
while that VM is starting. Conductor ``beta`` boots the second VM, and once
alpha's claim has run out (its TTL: nobody renews it any more) takes the
first job over: it resumes the stored flow, skipping the steps alpha had
finished and running the interrupted one again under the same idempotency
key. The flows live in another SQLite file; the board's claim epoch is the
flow's lease epoch, so alpha, were it only frozen, could not write anything.

Every step appends what it did to a log; this script prints the story from
that log and the board once the farm is done.

Run: python examples/conductor_farm.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import steadyflow as sf
from steadyflow.jobs import Job, JobBoard, JobState, open_board

FACTORY = "conductor_farm:build_boot"
STEPS = ["allocate-disk", "create-nic", "start-vm", "wait-for-ssh", "dns"]
TTL = 1.0
"""Seconds a claim lasts unless renewed: how long a dead conductor holds its job up."""
NAME_ENV = "FARM_CONDUCTOR"
HANG_ENV = "FARM_HANG_AT"
DONE = JobState.DONE


def workdir() -> Path:
    """Where the board, the store and the log live: the examples' temp dir under tests."""
    root = os.environ.get("STEADYFLOW_EXAMPLE_TMP")
    if not root:
        # One fresh directory per run, handed down to the conductor processes.
        root = os.environ["STEADYFLOW_EXAMPLE_TMP"] = tempfile.mkdtemp(prefix="farm-")
    return Path(root)


def urls() -> tuple[str, str, Path]:
    base = workdir()
    return f"sqlite:///{base}/farm-jobs.db", f"sqlite:///{base}/farm-flows.db", base / "farm.log"


class Step(sf.Task):
    """One boot step: logs who ran it with which idempotency key."""

    def __init__(self, name: str, log: str) -> None:
        super().__init__(name, provides=name)
        self.log = log

    def execute(self, vm: str) -> str:
        context = sf.current_context()
        conductor = os.environ.get(NAME_ENV, "?")
        line = f"{vm} {self.name} {conductor} {context.idempotency_key}\n"
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, line.encode())
        os.close(fd)
        if os.environ.get(HANG_ENV) == f"{vm}:{self.name}":
            time.sleep(3600)  # a cloud API that never answers: alpha is killed here
        time.sleep(0.05)
        return f"{vm}-{self.name}"


def build_boot(log: str) -> sf.Linear:
    """The boot flow; every conductor rebuilds it from this factory."""
    return sf.Linear("boot-vm", *(Step(name, log) for name in STEPS))


def conductor(name: str) -> None:
    """Run one conductor in this process until SIGTERM (the farm's children come here)."""
    board_url, store_url, _ = urls()
    with (
        open_board(board_url, name="farm") as board,
        sf.conductors.Conductor(board, store_url, name=name, ttl=TTL) as farmhand,
    ):
        farmhand.run()


def start(name: str, *, hang_at: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, NAME_ENV: name}
    if hang_at:
        env[HANG_ENV] = hang_at
    return subprocess.Popen([sys.executable, __file__, "--conductor", name], env=env)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def logged(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def post_boot(board: JobBoard, vm: str, log: Path) -> Job:
    """Post one boot; the key makes posting it again (a retried request) a no-op."""
    return board.post(
        f"boot {vm}",
        factory=FACTORY,
        args=[str(log)],
        store={"vm": vm},
        flow_id=f"boot-{vm}",
        key=f"boot:{vm}",
    )


def main() -> None:
    board_url, _, log = urls()
    with open_board(board_url, name="farm") as board:
        jobs = {vm: post_boot(board, vm, log) for vm in ("vm-1", "vm-2")}
        print("posted: " + ", ".join(job.name for job in jobs.values()))

        alpha = start("alpha", hang_at="vm-1:start-vm")
        wait_for(lambda: ["vm-1", "start-vm"] in [e[:2] for e in logged(log)], "alpha")
        print("alpha claimed boot vm-1 and is starting the VM...")
        alpha.send_signal(signal.SIGKILL)
        alpha.wait()
        print("alpha is killed (SIGKILL): nobody renews its claim any more")

        beta = start("beta")
        wait_for(lambda: all(board.get(job.id).state is DONE for job in jobs.values()), "beta")
        beta.send_signal(signal.SIGTERM)  # a graceful stop: beta runs nothing any more
        beta.wait()
        print("beta finished both jobs and is stopped (SIGTERM)\n")

        ran: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for vm, step, who, key in logged(log):
            ran[vm].append((step, who, key))
        for vm, job in jobs.items():
            final = board.get(job.id)
            print(f"{job.name}: {final.state.value} after {final.claims} claim(s)")
            for step, who, key in ran[vm]:
                print(f"  {step:<13} ran on {who:<5} (idempotency key {key})")
        counts = Counter(step for step, _, _ in ran["vm-1"])
        again = sorted(step for step, count in counts.items() if count > 1)
        print(f"\nrun twice: {', '.join(again)} (interrupted by the kill; the same key both times)")
        print("run once: every step alpha had finished, and every other step")


if __name__ == "__main__":
    if "--conductor" in sys.argv:
        conductor(sys.argv[sys.argv.index("--conductor") + 1])
    else:
        main()

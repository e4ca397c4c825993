"""Conductors measured as processes: takeover time after SIGKILL, and jobs/s by 1, 2, 4 of them.

Usage::

    .venv/bin/python benchmarks/conductors_bench.py [--rounds 20] [--jobs 1000] [--ttl 1.0]
        [--board-url URL] [--store-url URL] [--skip-takeover] [--skip-throughput]
        [--postgres] [--write]

Takeover: each round posts a two-step job; conductor A (a process) runs its
first step and hangs in the second; conductor B is started and waits; A is
SIGKILLed. The time from the kill to B starting the second step (the claim
expired, B claimed the job, took the flow's lease with the new epoch,
reloaded the flow and resumed it) is the takeover time. Reported: median and
worst of the rounds, beside the claim TTL (the bound is TTL + the claim
wait, ``min(0.5 s, ttl / 6)``).

Throughput: ``--jobs`` one-step no-op jobs are posted, then 1, 2 and 4
conductor processes (one job at a time each) and one conductor with four
threads drain the board; jobs completed per second from the moment they all
run to the last job DONE.

Defaults: a SQLite board and a SQLite store in a temporary directory.
(This script is not named ``conductors.py``: mypy would take it for the
tests' ``conductors`` package.)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _env import git_revision, section_marks, write_section
from _scratch_db import PG_URL, postgres_schema

import steadyflow as sf
from steadyflow.jobs import JobBoard, JobState, open_board

FACTORY = "conductors_bench:chain"
HANG_ENV = "CONDUCTORS_BENCH_HANG"
NAME_ENV = "CONDUCTORS_BENCH_NAME"
HOLD_ENV = "CONDUCTORS_BENCH_HOLD"


# -- the flow (imported by the conductor processes) ------------------------------------


class Step(sf.Task):
    def __init__(self, name: str, log: str, hang: bool) -> None:
        super().__init__(name)
        self.log, self.hang = log, hang

    def execute(self) -> None:
        who = os.environ.get(NAME_ENV, "?")
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{self.name} {who}\n".encode())
        os.close(fd)
        if self.hang and os.environ.get(HANG_ENV):
            time.sleep(3600)


def chain(log: str, steps: int) -> sf.Linear:
    """``steps`` steps logging who ran them; the last hangs in a process told to."""
    return sf.Linear("bench", *(Step(f"s{i}", log, i == steps - 1) for i in range(steps)))


# -- a conductor process ---------------------------------------------------------------


def conductor_main(argv: list[str]) -> None:
    board_url, board_name, store_url, name, ttl, concurrent, idle = argv
    with (
        open_board(board_url, name=board_name) as board,
        sf.conductors.Conductor(
            board, store_url, name=name, ttl=float(ttl), max_concurrent=int(concurrent)
        ) as conductor,
    ):
        print("ready", flush=True)
        if os.environ.get(HOLD_ENV):  # all of them start at once: see Farm.go
            sys.stdin.readline()
        conductor.run(idle_timeout=float(idle) if idle != "-" else None)


class Farm:
    def __init__(self, board_url: str, board_name: str, store_url: str, ttl: float) -> None:
        self.board_url, self.board_name, self.store_url, self.ttl = (
            board_url,
            board_name,
            store_url,
            ttl,
        )

    def start(
        self,
        name: str,
        *,
        concurrent: int = 1,
        idle: float | None = None,
        hang: bool = False,
        hold: bool = False,
    ) -> subprocess.Popen[str]:
        """A conductor process, once it is ready; with ``hold``, it claims only after :meth:`go`."""
        env = {**os.environ, NAME_ENV: name}
        if hang:
            env[HANG_ENV] = "1"
        if hold:
            env[HOLD_ENV] = "1"
        args = [self.board_url, self.board_name, self.store_url, name, str(self.ttl)]
        args += [str(concurrent), "-" if idle is None else str(idle)]
        process = subprocess.Popen(
            [sys.executable, __file__, "--conductor", *args],
            env=env,
            stdin=subprocess.PIPE if hold else None,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise SystemExit(f"conductor {name} did not start")
        return process

    @staticmethod
    def go(processes: list[subprocess.Popen[str]]) -> None:
        """Let held conductors start claiming (each was ready, its imports and connections made)."""
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.close()


def wait_until(condition: Callable[[], bool], timeout: float = 120.0, step: float = 0.001) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(step)


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def logged(log: Path, line: str) -> Callable[[], bool]:
    return lambda: line in lines(log)


def done(board: JobBoard, job_id: str) -> Callable[[], bool]:
    return lambda: board.get(job_id).state is JobState.DONE


# -- takeover --------------------------------------------------------------------------


def takeover(board: JobBoard, farm: Farm, workdir: Path, rounds: int) -> list[float]:
    times = []
    for round_number in range(rounds):
        log = workdir / f"takeover-{round_number}.log"
        job = board.post("takeover", factory=FACTORY, args=[str(log), 2])
        first = farm.start(f"A{round_number}", hang=True)
        wait_until(logged(log, f"s1 A{round_number}"))
        second = farm.start(f"B{round_number}")
        first.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        first.wait()
        wait_until(logged(log, f"s1 B{round_number}"))
        times.append(time.monotonic() - killed)
        wait_until(done(board, job.id), step=0.01)
        second.send_signal(signal.SIGTERM)
        second.wait()
        for process in (first, second):
            if process.stdout is not None:
                process.stdout.close()
    return times


# -- throughput ------------------------------------------------------------------------


def throughput(
    board_url: str, store_url: str, workdir: Path, jobs: int, conductors: int, threads: int
) -> float:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    log = workdir / f"{name}.log"
    with open_board(board_url, name=name) as board:
        for _ in range(jobs):
            board.post("noop", factory=FACTORY, args=[str(log), 1])
        farm = Farm(board_url, name, store_url, 10.0)
        processes = [
            farm.start(f"c{i}", concurrent=threads, idle=1.0, hold=True) for i in range(conductors)
        ]
        began = time.monotonic()
        farm.go(processes)
        # Light polls (a file's size, then one count): the machine has few cores to spare.
        wait_until(lambda: len(lines(log)) >= jobs, step=0.05)
        wait_until(lambda: sum(1 for _ in board.iter_jobs(JobState.DONE)) == jobs, step=0.01)
        took = time.monotonic() - began
        for process in processes:
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        ran = lines(log)
        if len(ran) != jobs:
            raise SystemExit(f"{len(ran)} executions for {jobs} jobs")
    return jobs / took


def mask(url: str) -> str:
    return url.split("?", 1)[0]


SHAPES = ((1, 1), (2, 1), (4, 1), (1, 4))
"""(conductor processes, threads each) of the throughput runs."""


@dataclass
class Measured:
    """One setting's figures: takeover seconds per round, jobs/s per shape."""

    setting: str
    ttl: float
    takeovers: list[float] = field(default_factory=list)
    rates: dict[tuple[int, int], float] = field(default_factory=dict)


def measure(
    setting: str, board_url: str, store_url: str, workdir: Path, args: argparse.Namespace
) -> Measured:
    print(f"{setting}: board {mask(board_url)}, store {mask(store_url)}")
    result = Measured(setting, args.ttl)
    workdir = Path(tempfile.mkdtemp(prefix="setting-", dir=workdir))  # its own logs
    if not args.skip_takeover:
        name = f"takeover-{uuid.uuid4().hex[:8]}"
        with open_board(board_url, name=name) as board:
            farm = Farm(board_url, name, store_url, args.ttl)
            result.takeovers = takeover(board, farm, workdir, args.rounds)
        times = result.takeovers
        print(
            f"takeover after SIGKILL, TTL {args.ttl:g} s, {len(times)} rounds: "
            f"median {statistics.median(times):.3f} s, worst {max(times):.3f} s, "
            f"best {min(times):.3f} s"
        )
    if not args.skip_throughput:
        for conductors, threads in SHAPES:
            rate = throughput(board_url, store_url, workdir, args.jobs, conductors, threads)
            result.rates[conductors, threads] = rate
            print(
                f"{args.jobs} one-step jobs, {conductors} conductor(s) x {threads} "
                f"thread(s): {rate:.0f} jobs/s"
            )
    return result


def section(results: list[Measured], args: argparse.Namespace) -> str:
    begin, end = section_marks("conductors")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head = [f"**{shape[0]} x {shape[1]}** jobs/s" for shape in SHAPES]
    rows = [
        "| setting | takeover median s | worst s | best s | " + " | ".join(head) + " |",
        "|---|--:|--:|--:|" + "--:|" * len(SHAPES),
    ]
    for measured in results:
        times = measured.takeovers
        cells = (
            [f"{statistics.median(times):.2f}", f"{max(times):.2f}", f"{min(times):.2f}"]
            if times
            else ["", "", ""]
        )
        cells += [
            f"{measured.rates[shape]:,.0f}" if shape in measured.rates else "" for shape in SHAPES
        ]
        rows.append(f"| {measured.setting} | " + " | ".join(cells) + " |")
    return (
        f"{begin}\n## Conductors (`benchmarks/conductors_bench.py`)\n\n"
        f"Written by `.venv/bin/python benchmarks/conductors_bench.py --write` on {when} "
        f"(git {git_revision()}). Each setting keeps its board and its flows' store on one "
        f"service. **Takeover**: {args.rounds} rounds; a conductor runs the first step of a "
        f"two-step job and hangs in the second; a second conductor waits; the first is "
        f"SIGKILLed: seconds from the kill to the second conductor starting the second step "
        f"(its claim expired, claimed, the flow's lease taken with the new epoch, the flow "
        f"reloaded and resumed). Claim TTL {args.ttl:g} s: the bound is the TTL plus the "
        f"claim wait, min(0.5 s, ttl / 6). **N x T jobs/s**: {args.jobs:,} one-step no-op "
        f"jobs posted first, then N conductor processes of T threads each drain them, every "
        f"job's flow stored; from their start to the last job DONE. The machine has 2 cores: "
        f"the curve flattens once they are busy.\n\n" + "\n".join(rows) + f"\n{end}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--ttl", type=float, default=1.0)
    parser.add_argument("--board-url")
    parser.add_argument("--store-url")
    parser.add_argument("--skip-takeover", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help=f"board and store in a fresh schema of {PG_URL} (dropped afterwards)",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="measure on SQLite and on PostgreSQL, then write RESULTS.md's conductors section",
    )
    args = parser.parse_args()
    results = []
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="conductors-")))
        sqlite = (f"sqlite:///{workdir}/jobs.db", f"sqlite:///{workdir}/flows.db")
        if args.write:
            results.append(measure("SQLite (embedded)", *sqlite, workdir, args))
            schema = stack.enter_context(postgres_schema())
            results.append(measure("PostgreSQL", schema, schema, workdir, args))
        else:
            given = stack.enter_context(postgres_schema()) if args.postgres else None
            board_url = args.board_url or given or sqlite[0]
            store_url = args.store_url or given or sqlite[1]
            measure("given", board_url, store_url, workdir, args)
    if args.write:
        path = write_section("conductors", section(results, args))
        print(f"wrote the conductors section of {path}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--conductor":
        conductor_main(sys.argv[2:])
    else:
        main()

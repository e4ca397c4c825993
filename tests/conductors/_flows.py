"""Flow factories for the conductor tests: tasks that log their own effects to a file.

Every ``execute`` and ``revert`` appends ``<event> <job> <step>`` to the log
file with one unbuffered ``write`` (so the line is there the moment the call
returns, whichever process made it and whatever happens to it next). The
tests count these lines: they are the tasks' own account of what ran.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import steadyflow as sf

HOLD_SECONDS = 20.0
"""The longest a held step waits for its release file."""


def record(log: str, event: str, job: str, step: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{event} {job} {step}\n".encode())
    finally:
        os.close(fd)


def effects(log: str | Path) -> list[tuple[str, str, str]]:
    """The effects logged so far, in order: (event, job, step)."""
    file = Path(log)
    lines = file.read_text().splitlines() if file.exists() else []
    return [(words[0], words[1], words[2]) for words in (line.split() for line in lines)]


class Step(sf.Task):
    """Logs its execute and revert; can sleep, hold for a release file, fail or kill."""

    def __init__(
        self,
        name: str,
        log: str,
        job: str,
        *,
        sleep: float = 0.0,
        hold: bool = False,
        fail: bool = False,
        fail_revert: bool = False,
        kill: bool = False,
    ) -> None:
        super().__init__(name)
        self.log, self.job = log, job
        self.sleep, self.hold, self.fail = sleep, hold, fail
        self.fail_revert, self.kill = fail_revert, kill

    def execute(self) -> None:
        record(self.log, "exec", self.job, self.name)
        if self.kill:
            os.kill(os.getpid(), signal.SIGKILL)
        if self.sleep:
            time.sleep(self.sleep)
        if self.hold:
            release = Path(f"{self.log}.release")
            deadline = time.monotonic() + HOLD_SECONDS
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        if self.fail:
            raise RuntimeError(f"step {self.name} of {self.job} fails")

    def revert(self) -> None:
        record(self.log, "revert", self.job, self.name)
        if self.fail_revert:
            raise RuntimeError(f"the revert of {self.name} of {self.job} fails too")


def chain(
    log: str,
    job: str,
    steps: int = 3,
    *,
    sleep: float = 0.0,
    hold: int = -1,
    fail: int = -1,
    fail_revert: int = -1,
    kill: int = -1,
) -> sf.Linear:
    """``steps`` logged steps s0, s1, ...; the indexes given sleep/hold/fail/kill."""
    return sf.Linear(
        "chain",
        *(
            Step(
                f"s{i}",
                log,
                job,
                sleep=sleep,
                hold=i == hold,
                fail=i == fail,
                fail_revert=i == fail_revert,
                kill=i == kill,
            )
            for i in range(steps)
        ),
    )


def broken(log: str, job: str) -> sf.Linear:
    """A factory that cannot build its flow (a poison job)."""
    record(log, "build", job, "-")
    raise RuntimeError(f"the factory of {job} is broken")

"""A flow factory for the revoke tests: tasks that log their effects to a file.

Every ``execute`` and ``revert`` appends ``<event> <atom>`` to the file named
by the factory's argument with one unbuffered write, so the log is the tasks'
own account, whichever process ran them. With ``REVOKE_KILL_AT=event:atom``
in the environment, the process SIGKILLs itself right after that effect.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import steadyflow as sf

HOLD_SECONDS = 10.0
"""The longest the slow task waits for its release file."""


def record(path: str, event: str, name: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{event} {name}\n".encode())
    finally:
        os.close(fd)
    if os.environ.get("REVOKE_KILL_AT") == f"{event}:{name}":
        os.kill(os.getpid(), signal.SIGKILL)


def effects(path: str | Path) -> list[tuple[str, str]]:
    """The effects logged so far, in order."""
    file = Path(path)
    lines = file.read_text().splitlines() if file.exists() else []
    return [(line.split()[0], line.split()[1]) for line in lines]


class Logged(sf.Task):
    """Logs its execute and revert; a ``slow`` one holds until ``<log>.release`` exists.

    While a file ``<log>.fail-<name>`` exists its execute raises, and while
    ``<log>.bad-revert-<name>`` exists its revert raises (after logging).
    """

    def __init__(self, name: str, log: str, *, slow: bool = False) -> None:
        super().__init__(name)
        self.log = log
        self.slow = slow

    def execute(self) -> None:
        record(self.log, "exec", self.name)
        if self.slow:
            deadline = time.monotonic() + HOLD_SECONDS
            while not os.path.exists(self.log + ".release") and time.monotonic() < deadline:
                time.sleep(0.01)
            record(self.log, "done", self.name)
        if os.path.exists(f"{self.log}.fail-{self.name}"):
            raise RuntimeError(f"{self.name} failed")

    def revert(self) -> None:
        record(self.log, "revert", self.name)
        if os.path.exists(f"{self.log}.bad-revert-{self.name}"):
            raise RuntimeError(f"revert of {self.name} failed")


def chain(log: str, slow: str = "") -> sf.Linear:
    """a -> b -> c, each logging to ``log``; ``slow`` names the one that holds."""
    return sf.Linear("revocable", *[Logged(n, log, slow=n == slow) for n in ("a", "b", "c")])

"""Conductor processes for the cross-process tests, and the board they share."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("_conductor_worker.py")


@dataclass
class Farm:
    """Where the conductors of one test find their jobs and flows."""

    board_url: str
    board_name: str
    backend_url: str
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(
        self,
        name: str,
        *,
        ttl: float = 1.0,
        concurrent: int = 1,
        max_claims: int = 5,
        idle_timeout: float | None = None,
    ) -> subprocess.Popen[str]:
        """Start one conductor process; returns once it runs."""
        args = [self.board_url, self.board_name, self.backend_url, name, str(ttl)]
        args += [str(concurrent), str(max_claims)]
        if idle_timeout is not None:
            args.append(str(idle_timeout))
        process = subprocess.Popen(
            [sys.executable, str(WORKER), *args], stdout=subprocess.PIPE, text=True
        )
        self.processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ready"), f"conductor {name} did not start: {line!r}"
        return process

    def statistics(self, process: subprocess.Popen[str], timeout: float = 30) -> dict[str, Any]:
        """Wait for a conductor to return and read the statistics it printed."""
        out, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, f"conductor exited {process.returncode}"
        stats: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return stats

    def terminate(self, process: subprocess.Popen[str]) -> dict[str, Any]:
        """SIGTERM a conductor (a graceful stop) and read its statistics."""
        process.send_signal(signal.SIGTERM)
        return self.statistics(process)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()

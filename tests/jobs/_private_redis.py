"""A Redis server of the test's own, on a free loopback port, that keeps its data on disk.

The shared Redis on 127.0.0.1:6379 keeps nothing on disk and other test runs
use it: restarting it would lose their data and ours. Restart tests start
this one instead (``appendonly yes``, ``appendfsync always``: every write a
client saw acknowledged is on disk before the reply), kill and restart it as
they please, and stop it when they end.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import _redis_service

if TYPE_CHECKING:
    from collections.abc import Iterator

START_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """One redis-server process in ``directory``; :meth:`restart` keeps port and data."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _redis_service.unavailable_binary()
        assert binary is not None
        self._process = subprocess.Popen(
            [
                binary,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.directory),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--protected-mode", "yes",
                "--daemonize", "no",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._wait_until_it_answers()

    def _wait_until_it_answers(self) -> None:
        import redis

        deadline = time.monotonic() + START_TIMEOUT_S
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.exceptions.BusyLoadingError:
                    pass  # replaying its append-only file
                except redis.exceptions.ConnectionError:
                    if self._process is not None and self._process.poll() is not None:
                        log = (self.directory / "redis.log").read_text(errors="replace")
                        raise RuntimeError(f"redis-server exited at start:\n{log[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not answer in time")
                time.sleep(0.02)
        finally:
            client.close()

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Stop the server abruptly (SIGKILL: no shutdown, no last save)."""
        if self._process is None:
            return
        self._process.send_signal(sig)
        self._process.wait(timeout=10)
        self._process = None

    def restart(self) -> None:
        self.kill()
        self.start()


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    """A started :class:`PrivateRedis`, killed when the block ends whatever happened."""
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.kill()

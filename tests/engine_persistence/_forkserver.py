"""The fork server the crash tests' workers share: each run is a cheap fork of a warm process.

A worker script calls :func:`serve` with its run function; it reads one
command per line from stdin, forks a child that runs it (a real process
that dies on SIGKILL with its leases and connections), and reports
``exit <code>`` when the child ends (``-9`` when it was SIGKILLed).
Forking from a process that already imported everything keeps each
crash-and-restart cheap. Tests start a worker with :func:`fork_server`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["fork_server", "serve"]

_DRIVERS = ("alembic.command", "psycopg", "pymysql", "steadyflow.persistence.sql")


def serve(
    run: Callable[..., int],
    *,
    announce_pid: bool = False,
    after: Callable[[list[str], int], None] | None = None,
) -> None:
    """Fork a child per command line on stdin; print each child's exit code.

    Args:
        run: called in the child with the command's words; returns its exit code.
        announce_pid: print ``pid <pid>`` as soon as a child is forked (for a
            test that kills it from outside).
        after: called in the server with the command's words and the child's
            exit code, before the code is printed.
    """
    for module in _DRIVERS:  # loaded lazily by steadyflow: warm them up before forking
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    for command in sys.stdin:
        words = command.split()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = run(*words)
            finally:
                sys.stdout.flush()
                os._exit(code)
        if announce_pid:
            print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if after is not None:
            after(words, code)
        print(f"exit {code}", flush=True)


@contextlib.contextmanager
def fork_server(worker: Path) -> Iterator[subprocess.Popen[str]]:
    """``python worker serve`` with pipes to talk to it; closed and waited for at the end."""
    process = subprocess.Popen(
        [sys.executable, str(worker), "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.close()
        process.wait(timeout=30)
        process.stdout.close()

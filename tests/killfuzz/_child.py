"""A fork server that runs one shape per child, for the kill campaigns to kill.

Usage: ``python -m killfuzz._child`` (with ``tests/`` on the path). It reads
JSON commands from stdin, one per line::

    {"url": ..., "flow_id": ..., "effects": ..., "shape": ..., "lease_ttl": null}

and for each forks a child that loads the flow (creating or resuming it) and
runs it, printing ``pid <pid>`` at once and ``exit <pid> <code>`` when that
child ends, whenever that is: children may run side by side (a paused runner
and the one taking over from it). Forking from a process that imported
everything already keeps each kill-and-restart cheap; each child is still a
real process that dies with its connections.

Exit codes: 0 SUCCESS, 3 REVERTED, 4 RevertFailedError (flow FAILURE),
5 FlowLockedError, 6 LeaseLostError, 7 anything else (traceback in
``<effects>.err``), 8 BackendUnavailableError (traceback too); a negative
code is the signal that ended it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import threading
import traceback
from typing import Any

import steadyflow as sf
from steadyflow.errors import BackendUnavailableError, FlowLockedError, RevertFailedError
from steadyflow.states import FlowState

from ._shapes import SHAPES, EffectLog

EXIT_SUCCESS, EXIT_REVERTED, EXIT_REVERT_FAILED = 0, 3, 4
EXIT_LOCKED, EXIT_LEASE_LOST, EXIT_ERROR, EXIT_UNAVAILABLE = 5, 6, 7, 8

_print_lock = threading.Lock()


def _say(text: str) -> None:
    with _print_lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def run(command: dict[str, Any]) -> int:
    """Run (or resume) the command's flow to its end; the exit code says how it ended."""
    shape = SHAPES[command["shape"]]
    log = EffectLog(command["effects"])
    options = dict(shape.options)
    if command.get("lease_ttl") is not None:
        options["lease_ttl"] = command["lease_ttl"]
    lease_lost = getattr(sf.errors, "LeaseLostError", None)
    try:
        with sf.load(
            shape.build(log),
            store=dict(shape.store),
            engine=shape.engine,
            backend=command["url"],
            flow_id=command["flow_id"],
            **options,
        ) as engine:
            try:
                engine.run()
            except RevertFailedError:
                return EXIT_REVERT_FAILED
            except Exception as exc:
                if lease_lost is not None and isinstance(exc, lease_lost):
                    return EXIT_LEASE_LOST
                # the flow's end is durable: this run's, or (killed before it
                # could exit) the previous one's, which run() refuses to redo
                if engine.storage.flow_state is FlowState.REVERTED:
                    return EXIT_REVERTED
                if engine.storage.flow_state is FlowState.FAILURE:
                    return EXIT_REVERT_FAILED
                raise
    except FlowLockedError:
        return EXIT_LOCKED
    except Exception as exc:
        if lease_lost is not None and isinstance(exc, lease_lost):
            return EXIT_LEASE_LOST
        with open(command["effects"] + ".err", "a") as errors:
            errors.write(f"pid {os.getpid()}:\n{traceback.format_exc()}\n")
        return EXIT_UNAVAILABLE if isinstance(exc, BackendUnavailableError) else EXIT_ERROR
    return EXIT_SUCCESS


def _wait(pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    _say(f"exit {pid} {os.waitstatus_to_exitcode(status)}")


def _preload() -> None:
    """Import what every child needs (the SQL backend and drivers load lazily)."""
    for module in ("alembic.command", "psycopg", "pymysql", "steadyflow.persistence.sql"):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def serve() -> None:
    _preload()
    for line in sys.stdin:
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = EXIT_ERROR
            try:
                code = run(command)
            finally:
                os._exit(code)
        _say(f"pid {pid}")
        threading.Thread(target=_wait, args=(pid,), daemon=True).start()


if __name__ == "__main__":
    serve()

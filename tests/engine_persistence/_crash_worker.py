"""Runs a persisted chain that records its side effects; crash tests SIGKILL it.

Usage: python _crash_worker.py serve

It then reads commands ``URL FLOW_ID EFFECTS_FILE N fail|pass`` from stdin,
one per line, and for each forks a child that runs the chain, printing
``pid <pid>`` (the child to kill) and, when the child ends, ``exit <code>``
(``-9`` when it was SIGKILLed). Forking from a process that already imported
everything keeps each crash-and-restart cheap; each child is still a real
process that dies on SIGKILL with its locks and connections.

Every ``execute`` and ``revert`` appends ``<event> <atom> <idempotency key>``
to EFFECTS_FILE with one unbuffered ``write`` (so the line is in the file the
moment the call returns, whatever happens to the process next), then sleeps
a little so that kills land between effects and their recording. With
``fail``, the last task fails and the chain is reverted. Prints ``ready``
once the engine is loaded. Exit codes: 0 finished, 3 reverted.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import steadyflow as sf


def run(url: str, flow_id: str, effects: str, count: str, mode: str) -> int:
    size = int(count)
    fd = os.open(effects, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def effect(event: str) -> None:
        context = sf.current_context()
        os.write(fd, f"{event} {context.atom_name} {context.idempotency_key}\n".encode())
        time.sleep(0.002)

    class Step(sf.Task):
        def execute(self, value: int) -> int:
            effect("exec")
            if mode == "fail" and self.name == f"t{size - 1}":
                raise RuntimeError("the last step fails")
            return value + 1

        def revert(self, value: int) -> None:
            effect("revert")

    steps = [
        Step(f"t{i}", provides=f"t{i}", rebind={"value": f"t{i - 1}" if i else "start"})
        for i in range(size)
    ]
    with sf.load(
        sf.Linear("crashy", *steps),
        store={"start": 0},
        backend=url,
        flow_id=flow_id,
        lease_ttl=LEASE_TTL,
    ) as engine:
        print("ready", flush=True)
        try:
            engine.run()
        except Exception:
            return 3
    return 0


LEASE_TTL = 2.0
"""Short, so renewals happen during a run; a killed child's lease is broken, not waited out."""


def break_lease(url: str, flow_id: str) -> None:
    """Take the dead child's lease over with a larger epoch and give it up.

    The server saw the child die (waitpid), so nobody holds the flow; an
    operator who knows that may break the lease instead of waiting for it
    to expire. The expiry path itself is tested in test_leases.py.
    """
    with sf.persistence.open_backend(url) as backend:
        lease = backend.get_lease(flow_id)
        if lease is not None:
            backend.release_lease(
                backend.acquire_lease(flow_id, "crash-server", 5, epoch=lease.epoch + 1)
            )


def _break_killed_lease(words: list[str], code: int) -> None:
    if code == -signal.SIGKILL:
        url, flow_id = words[:2]
        break_lease(url, flow_id)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from engine_persistence._forkserver import serve

    serve(run, announce_pid=True, after=_break_killed_lease)

"""A process that runs a persisted flow for the lease tests: python _holder.py URL FLOW_ID TTL LOG.

The flow is a chain ``a, slow, c``: ``slow`` prints ``running`` and sleeps for
2 s in small steps. Each ``execute`` appends ``<pid> <event> <atom> <time>``
to LOG with one unbuffered write, at start and at end, so a test can tell
which process executed what, and when. Exit codes: 0 finished, 4 the run
lost its lease (``LeaseLostError``), 5 the flow was locked, 1 anything else.
With ``HOLDER_FORKS_A_CHILD`` set, ``a`` forks a child that sleeps for a
minute holding everything the holder had open (logged as ``forked <pid>``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import steadyflow as sf
from steadyflow.errors import FlowLockedError, LeaseLostError


def main(url: str, flow_id: str, ttl: str, log: str) -> int:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(event: str, atom: str) -> None:
        os.write(fd, f"{os.getpid()} {event} {atom} {time.time():.6f}\n".encode())

    class Step(sf.Task):
        def execute(self) -> str:
            note("start", self.name)
            if self.name == "a" and os.environ.get("HOLDER_FORKS_A_CHILD"):
                _fork_a_long_lived_child(note)
            if self.name == "slow":
                print("running", flush=True)
                for _ in range(40):
                    time.sleep(0.05)
            note("end", self.name)
            return self.name

    flow = sf.Linear("held", *(Step(name, provides=name) for name in ("a", "slow", "c")))
    with sf.load(flow, backend=url, flow_id=flow_id, lease_ttl=float(ttl)) as engine:
        try:
            engine.run()
        except LeaseLostError as exc:
            print(f"lost {exc}", flush=True)
            return 4
        except FlowLockedError as exc:
            print(f"locked {exc}", flush=True)
            return 5
    print("done", flush=True)
    return 0


def _fork_a_long_lived_child(note: Callable[[str, str], None]) -> None:
    """Leave a child behind that inherits every descriptor and socket, and outlives us."""
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    note("forked", str(pid))


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

"""An engine in a process of its own, for the tests that SIGKILL or SIGSTOP it.

Usage: python _engine_proc.py BROKER TOPIC DB_PATH FLOW_ID SECONDS LEASE_TTL

Runs the one-task flow of :func:`flow` persisted in the SQLite file DB_PATH,
then prints the stored result; exits 3 when it lost its lease.
"""

from __future__ import annotations

import sys

import steadyflow as sf
from steadyflow.errors import LeaseLostError
from workers import _tasks


def flow() -> sf.Linear:
    return sf.Linear("remote-slow", _tasks.slow)


def main(broker: str, topic: str, db: str, flow_id: str, seconds: str, ttl: str) -> int:
    engine = sf.load(
        flow(),
        store={"seconds": float(seconds)},
        engine="workers",
        broker=broker,
        topic=topic,
        backend=f"sqlite:///{db}",
        flow_id=flow_id,
        lease_ttl=float(ttl),
    )
    try:
        with engine:
            engine.run()
            print("result", engine.storage.fetch("slow"), flush=True)
    except LeaseLostError as exc:
        print("lease lost", exc, flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

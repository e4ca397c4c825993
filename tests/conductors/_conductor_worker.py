"""One conductor process for the cross-process tests; they SIGKILL, SIGSTOP or SIGTERM it.

Usage: python _conductor_worker.py BOARD_URL BOARD_NAME BACKEND_URL NAME TTL CONCURRENT
       MAX_CLAIMS [IDLE_TIMEOUT]

Prints ``ready <pid>`` once it runs, and its statistics as one JSON line
when :meth:`Conductor.run` returns (after SIGTERM, or once idle for
IDLE_TIMEOUT seconds).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from steadyflow.conductors import Conductor
    from steadyflow.jobs import open_board

    board_url, board_name, backend_url, name, ttl, concurrent, max_claims = argv[:7]
    idle = float(argv[7]) if len(argv) > 7 else None
    logging.basicConfig(level=logging.WARNING, format=f"{name} %(levelname)s %(message)s")
    with (
        open_board(board_url, name=board_name) as board,
        Conductor(
            board,
            backend_url,
            name=name,
            ttl=float(ttl),
            max_concurrent=int(concurrent),
            max_claims=int(max_claims),
            abandon_delay=0.1,
            stop_timeout=5.0,
        ) as conductor,
    ):
        print(f"ready {os.getpid()}", flush=True)
        conductor.run(idle_timeout=idle)
        print(json.dumps(dataclasses.asdict(conductor.statistics())), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main(sys.argv[1:]))

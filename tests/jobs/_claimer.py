"""A conductor stand-in for the process tests: claims jobs in its own process.

    python _claimer.py URL BOARD TTL
    python _claimer.py URL BOARD TTL drain

Claims a job for TTL seconds and prints ``claimed <job id> <epoch>``; then,
for each line read from stdin, tries the action it names (``renew``,
``complete``) and prints ``ok`` or ``lost``. The tests SIGKILL or SIGSTOP it
in between. With ``drain``, it waits for a line on stdin (the start signal),
then claims and completes jobs until none is left, printing each job's id.
"""

from __future__ import annotations

import os
import sys

from steadyflow.jobs import ClaimLostError, open_board


def main() -> None:
    url, name, ttl = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open_board(url, name=name) as board:
        if sys.argv[4:] == ["drain"]:
            sys.stdin.readline()
            while (taken := board.claim(f"drainer-{os.getpid()}", ttl)) is not None:
                taken.complete()
                print(taken.job.id, flush=True)
            return
        claim = board.claim("doomed", ttl, wait=30)
        if claim is None:
            print("nothing", flush=True)
            return
        print("claimed", claim.job.id, claim.epoch, flush=True)
        for line in sys.stdin:
            try:
                getattr(claim, line.strip())()
            except ClaimLostError:
                print("lost", flush=True)
            else:
                print("ok", flush=True)


if __name__ == "__main__":
    main()

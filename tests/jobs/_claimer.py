"""A conductor stand-in for the kill tests: claims one job in its own process.

    python _claimer.py URL BOARD TTL

Claims a job for TTL seconds and prints ``claimed <job id> <epoch>``; then,
for each line read from stdin, tries the action it names (``renew``,
``complete``) and prints ``ok`` or ``lost``. The tests SIGKILL or SIGSTOP it
in between.
"""

from __future__ import annotations

import sys

from steadyflow.jobs import ClaimLostError, open_board


def main() -> None:
    url, name, ttl = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open_board(url, name=name) as board:
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

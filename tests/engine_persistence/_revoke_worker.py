"""Runs the cross-process revoke scenarios of test_revoke_crash.py in forked children.

Usage: python _revoke_worker.py serve

It then reads commands ``ACTION URL FLOW_ID LOG KILL_AT`` from stdin, one per
line, and for each forks a child that does the action and prints ``exit
<code>`` when it ends (``-9`` when it was killed). Actions:

- ``run``: store and run the flow of ``_revoke_flows.chain`` (b is slow) on
  the parallel engine, with a 3 s lease;
- ``resume``: ``sf.load_from_backend(...).run()``;
- ``revoke``: ``sf.revoke(...)`` (exit 0 when reverted here, 6 when requested).

A run exits 0 on SUCCESS, 5 when revoked, 3 on another error. ``KILL_AT``
(``event:atom``, ``-`` for none) is where the child SIGKILLs itself.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import steadyflow as sf
from steadyflow.errors import FlowRevokedError

# The factory's module is found as pytest finds it: from the tests directory.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
FACTORY = "engine_persistence._revoke_flows:chain"
REVOKED, REQUESTED, OTHER = 5, 6, 3


def _run(engine: sf.Engine) -> int:
    with engine:
        try:
            engine.run()
        except FlowRevokedError:
            return REVOKED
        except Exception:
            return OTHER
    return 0


def act(action: str, url: str, flow_id: str, log: str, kill_at: str) -> int:
    if kill_at != "-":
        os.environ["REVOKE_KILL_AT"] = kill_at
    options = {"engine": "parallel", "lease_ttl": 3.0}
    if action == "run":
        from engine_persistence._revoke_flows import chain

        flow = chain(log, slow="b")
        return _run(
            sf.load(
                flow,
                backend=url,
                flow_id=flow_id,
                factory=FACTORY,
                factory_args=[log, "b"],
                **options,  # type: ignore[arg-type]
            )
        )
    if action == "resume":
        return _run(sf.load_from_backend(url, flow_id, **options))  # type: ignore[arg-type]
    outcome = sf.revoke(url, flow_id, "from a child", requested_by="child")
    return 0 if outcome.outcome == "reverted" else REQUESTED


if __name__ == "__main__":
    from engine_persistence._forkserver import serve

    importlib.import_module("engine_persistence._revoke_flows")
    serve(act)

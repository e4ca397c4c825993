"""Stopping and undoing: a suspend and its resume, a revoke between runs, Ctrl-C mid-revert.

A VM is provisioned in three steps, each logging what it does and undoes.

1. A step asks the engine to suspend: the run ends SUSPENDED, nothing is
   undone, and the next ``run()`` continues with the step after it.
2. A suspended flow is revoked between runs: the next ``run()`` reverts what
   completed, in reverse order, and raises ``FlowRevokedError``.
3. A step fails and, while the flow is reverting, Ctrl-C arrives (a revert
   raising KeyboardInterrupt): the run stops at once, the flow stays
   REVERTING, and the next ``run()`` finishes the revert; nothing runs forward,
   and nothing is undone twice.

Run: python examples/stop_and_undo.py
"""

from __future__ import annotations

from typing import Any

import steadyflow as sf


class Step(sf.Task):
    """Logs its execute and revert; may suspend the run, fail, or be interrupted."""

    def __init__(self, name: str, log: list[str], **behaviour: Any) -> None:
        super().__init__(name)
        self.log = log
        self.behaviour = behaviour
        self.engine: sf.Engine | None = None

    def execute(self) -> None:
        self.log.append(f"do {self.name}")
        if self.behaviour.get("suspend") and self.engine is not None:
            self.engine.suspend()
        if self.behaviour.get("fail"):
            raise RuntimeError(f"{self.name} failed")

    def revert(self, **kwargs: Any) -> None:
        if self.behaviour.pop("interrupt_revert", False):
            self.log.append(f"Ctrl-C while undoing {self.name}")
            raise KeyboardInterrupt
        self.log.append(f"undo {self.name}")


def provision(log: list[str], **behaviours: dict[str, Any]) -> tuple[sf.Engine, list[Step]]:
    steps = [Step(name, log, **behaviours.get(name, {})) for name in ("disk", "vm", "dns")]
    engine = sf.load(sf.Linear("provision", *steps))
    for step in steps:
        step.engine = engine
    return engine, steps


def report(title: str, engine: sf.Engine, log: list[str]) -> None:
    print(f"{title}: flow {engine.storage.flow_state}; {', '.join(log) or 'nothing ran'}")
    log.clear()


def suspend_and_resume() -> None:
    log: list[str] = []
    engine, _ = provision(log, vm={"suspend": True})
    engine.run()
    report("suspended", engine, log)
    engine.run()
    report("resumed", engine, log)


def revoke_between_runs() -> None:
    log: list[str] = []
    engine, _ = provision(log, disk={"suspend": True})
    engine.run()
    report("suspended", engine, log)
    engine.revoke("the order was cancelled", requested_by="billing")
    try:
        engine.run()
    except sf.FlowRevokedError as error:
        print(f"revoked by {error.requested_by}: {error.reason}")
    report("revoked", engine, log)


def interrupted_revert() -> None:
    log: list[str] = []
    engine, _ = provision(log, vm={"interrupt_revert": True}, dns={"fail": True})
    try:
        engine.run()
    except KeyboardInterrupt:
        report("interrupted", engine, log)
    try:
        engine.run()
    except sf.errors.RemoteFailureError as error:
        print(f"the original failure: {error.failure}")
    report("revert finished", engine, log)


def main() -> None:
    print("-- suspend, then run again")
    suspend_and_resume()
    print("-- revoke a suspended flow")
    revoke_between_runs()
    print("-- Ctrl-C in the middle of a revert")
    interrupted_revert()


if __name__ == "__main__":
    main()

"""Runs the recovery scenarios of test_recovery.py in forked children that die by SIGKILL.

Usage: python _recovery_worker.py serve

It then reads commands ``SCENARIO URL FLOW_ID EFFECTS_FILE KILL_AT ENGINE``
from stdin, one per line, and for each forks a child that runs the scenario
and prints ``exit <code>`` when it ends (``-9`` when it was killed; 0 when
the flow succeeded, 3 when it ended REVERTED, 4 when it ended FAILURE).
Forking from a process that already imported everything keeps each
crash-and-restart cheap (the pattern of ``_crash_worker.py``).

The kill is deterministic: ``KILL_AT`` is ``event:atom`` (``-`` for none),
and the child SIGKILLs itself right after appending that effect line, the
first time it does. Every ``execute`` and ``revert`` appends
``<event> <atom> <idempotency key>`` to EFFECTS_FILE with one unbuffered
``write``, so a line is in the file the moment the call made its effect.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import steadyflow as sf
from steadyflow.errors import RevertFailedError
from steadyflow.persistence import open_backend
from steadyflow.states import AtomState


class Effects:
    """Appends each effect to the shared file; dies where the command says."""

    def __init__(self, path: str, kill_at: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.kill_at = kill_at

    def record(self, event: str) -> None:
        context = sf.current_context()
        os.write(self.fd, f"{event} {context.atom_name} {context.idempotency_key}\n".encode())
        if f"{event}:{context.atom_name}" == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


class Step(sf.Task):
    """Records its execute and revert; ``fail`` makes execute raise, ``bad_revert`` revert."""

    def __init__(
        self, name: str, effects: Effects, *, fail: bool = False, bad_revert: bool = False
    ) -> None:
        super().__init__(name)
        self.effects = effects
        self.fail = fail
        self.bad_revert = bad_revert

    def execute(self) -> None:
        self.effects.record("exec")
        if self.fail:
            raise RuntimeError(f"{self.name} failed")

    def revert(self) -> None:
        self.effects.record("revert")
        if self.bad_revert:
            raise RuntimeError(f"revert of {self.name} failed")


def _elements(effects: Effects) -> sf.Task:
    @sf.task(name="el", revert=lambda x: effects.record("revert"))
    def element(x: int) -> int:
        effects.record("exec")
        return x

    return element


def map_revert(effects: Effects, _: str) -> sf.Flow:
    """A map of three elements, then a task that fails: the elements are reverted."""
    mapped = sf.Map(_elements(effects), over="xs", name="m", provides="ys")
    return sf.Linear("map-revert", mapped, Step("boom", effects, fail=True))


def map_rerun(effects: Effects, _: str) -> sf.Flow:
    """A map of three elements that succeeds (kills land in an element's execute)."""
    return sf.Linear("map-rerun", sf.Map(_elements(effects), over="xs", name="m", provides="ys"))


def scoped(effects: Effects, _: str) -> sf.Flow:
    """An inner flow whose controller gives up, run with ``revert="scope"``."""
    inner = sf.Linear(
        "inner",
        Step("a", effects),
        Step("b", effects),
        Step("c", effects, fail=True),
        retry=sf.retry.Times(1),
    )
    return sf.Linear("scoped", Step("x", effects), inner)


def blocked(effects: Effects, _: str) -> sf.Flow:
    """b's revert fails: a (before b) must stay unreverted; e (beside b) is reverted."""
    branch = sf.Linear("l", Step("a", effects), Step("b", effects, bad_revert=True))
    return sf.Linear(
        "blocked", sf.Unordered("u", branch, Step("e", effects)), Step("d", effects, fail=True)
    )


def escalated(effects: Effects, _: str) -> sf.Flow:
    """A revert fails inside a retried scope: the flow must revert, not retry."""
    inner = sf.Linear(
        "inner",
        sf.Unordered("u", Step("b", effects, bad_revert=True), Step("e", effects)),
        Step("c", effects, fail=True),
        retry=sf.retry.Times(3),
    )
    return sf.Unordered("escalated", Step("a", effects), inner)


def fan_out(effects: Effects, url: str) -> sf.Flow:
    """Three quick tasks beside a slow one; the slow one dies once the others are stored."""

    class Quick(sf.Task):
        def __init__(self, name: str, seconds: float) -> None:
            super().__init__(name)
            self.seconds = seconds

        def execute(self) -> None:
            effects.record("exec")
            time.sleep(self.seconds)

    class Slow(sf.Task):
        def execute(self) -> None:
            effects.record("exec")
            _wait_stored(url, ("a", "b", "c"))
            effects.record("stored")

    return sf.Unordered("fan-out", Quick("a", 0.1), Quick("b", 0.2), Quick("c", 0.3), Slow("d"))


def revert_fan_out(effects: Effects, url: str) -> sf.Flow:
    """Quick reverts beside a slow one, which dies once the store shows the others undone."""

    class Undo(sf.Task):
        def __init__(self, name: str, seconds: float) -> None:
            super().__init__(name)
            self.seconds = seconds

        def execute(self) -> None:
            effects.record("exec")

        def revert(self) -> None:
            effects.record("revert")
            if self.seconds < 0:
                _wait_stored(url, ("a", "b", "c"), state=AtomState.REVERTED)
                effects.record("stored")
            time.sleep(max(self.seconds, 0.0))

    branches = sf.Unordered("u", Undo("a", 0.1), Undo("b", 0.2), Undo("c", 0.3), Undo("d", -1))
    return sf.Linear("revert-fan-out", branches, Step("boom", effects, fail=True))


def map_fan_out(effects: Effects, url: str) -> sf.Flow:
    """Map elements of 0.1, 0.2 and 0.3 s beside a slow one that dies once they are stored."""

    @sf.task(name="el")
    def element(x: float) -> float:
        effects.record("exec")
        if x < 0:
            _wait_stored(url, (), elements=("m", 3))
            effects.record("stored")
        time.sleep(max(x, 0.0))
        return x

    return sf.Linear("map-fan-out", sf.Map(element, over="seconds", name="m", provides="out"))


def _wait_stored(
    url: str,
    names: tuple[str, ...],
    elements: tuple[str, int] = ("", 0),
    state: AtomState = AtomState.SUCCESS,
) -> None:
    """Wait (10 s at most) until the store shows ``names`` in ``state``, as a restart would.

    ``elements=(map, n)`` waits for the map's first n elements to succeed instead.
    """
    flow_id = sf.current_context().flow_id
    with open_backend(url) as reader:
        for _ in range(1000):
            atoms = reader.get_flow_detail(flow_id).atoms
            if all(n in atoms and atoms[n].state is state for n in names):
                name, count = elements
                stored = atoms[name].meta.get("elements", []) if name in atoms else []
                if not count or stored[:count] == [AtomState.SUCCESS.value] * count:
                    return
            time.sleep(0.01)


SCENARIOS: dict[str, Callable[[Effects, str], sf.Flow]] = {
    "map_revert": map_revert,
    "map_rerun": map_rerun,
    "scoped": scoped,
    "blocked": blocked,
    "escalated": escalated,
    "fan_out": fan_out,
    "map_fan_out": map_fan_out,
    "revert_fan_out": revert_fan_out,
}


def run(scenario: str, url: str, flow_id: str, effects_path: str, kill_at: str, kind: str) -> int:
    effects = Effects(effects_path, kill_at)
    flow = SCENARIOS[scenario](effects, url)
    options: dict[str, Any] = {"engine": kind}
    if scenario == "scoped":
        options["revert"] = "scope"
    store = {"xs": [1, 2, 3], "seconds": [0.1, 0.2, 0.3, -1]}
    with sf.load(flow, store=store, backend=url, flow_id=flow_id, **options) as engine:
        try:
            engine.run()
        except RevertFailedError:
            return 4
        except Exception:
            return 3
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from engine_persistence._forkserver import serve

    serve(run)

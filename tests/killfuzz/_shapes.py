"""The flow shapes the kill campaigns run, and what each must end as.

Every task appends one line per ``execute`` or ``revert`` to an effects file
with a single unbuffered ``write`` once its body is done (see
:class:`EffectLog`), so the file is the ground truth of what ran, whatever
the store says. Failures are deterministic (keyed on the attempt number from
``sf.current_context()``), so a resumed run must decide exactly as an
uninterrupted one, and every shape ends the same way however it is killed.
Results carry the runner's pid, so the store tells which runner recorded them.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import steadyflow as sf
from steadyflow.engine import EngineKind
from steadyflow.retry import Times
from steadyflow.states import FlowState

ALWAYS = 10**6  # "fail while attempt <= ALWAYS": fails on every attempt


class EffectLog:
    """Appends ``event atom key pid start end outcome`` lines, one ``write`` each.

    ``time.time()`` (not ``monotonic``, which is per process) so intervals of
    different runners compare; the write happens after the body, so a line
    means the body ran to its end, and a kill can land between the line and
    the engine recording the completion.
    """

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.pid = os.getpid()

    def write(self, event: str, start: float, outcome: str) -> None:
        context = sf.current_context()
        line = (
            f"{event} {context.atom_name} {context.idempotency_key} {os.getpid()} "
            f"{start:.6f} {time.time():.6f} {outcome}\n"
        )
        os.write(self.fd, line.encode())

    def close(self) -> None:
        os.close(self.fd)


class Work(sf.Task):
    """Sleeps ``duration`` seconds; fails while its attempt is <= ``fail_until``."""

    def __init__(
        self,
        name: str,
        log: EffectLog,
        *,
        duration: float = 0.002,
        fail_until: int = 0,
        revert_fails: bool = False,
    ) -> None:
        super().__init__(name, provides=name)
        self.log = log
        self.duration = duration
        self.fail_until = fail_until
        self.revert_fails = revert_fails

    def execute(self) -> str:
        start = time.time()
        time.sleep(self.duration)
        if sf.current_context().attempt <= self.fail_until:
            self.log.write("exec", start, "fail")
            raise RuntimeError(f"{self.name} fails its attempt {sf.current_context().attempt}")
        self.log.write("exec", start, "ok")
        return f"{self.name}@{os.getpid()}"

    def revert(self) -> None:
        start = time.time()
        time.sleep(self.duration)
        if self.revert_fails:
            self.log.write("revert", start, "fail")
            raise RuntimeError(f"{self.name} cannot be undone")
        self.log.write("revert", start, "ok")


class AsyncWork(Work):
    """:class:`Work` with coroutine bodies, for the asyncio engine."""

    async def execute(self) -> str:  # type: ignore[override]
        start = time.time()
        await asyncio.sleep(self.duration)
        if sf.current_context().attempt <= self.fail_until:
            self.log.write("exec", start, "fail")
            raise RuntimeError(f"{self.name} fails its attempt {sf.current_context().attempt}")
        self.log.write("exec", start, "ok")
        return f"{self.name}@{os.getpid()}"

    async def revert(self) -> None:  # type: ignore[override]
        start = time.time()
        await asyncio.sleep(self.duration)
        self.log.write("revert", start, "ok")


@dataclass(frozen=True)
class Shape:
    """One flow shape: how to build it, how to run it, and how it must end.

    Attributes:
        build: makes the flow, its tasks writing to the given log.
        ends: the flow state every run of it must end in.
        engine: the engine name passed to ``sf.load``.
        options: more ``sf.load`` options (``revert="scope"``...).
        store: the run's store.
        kept: atoms that must end SUCCESS even when the flow is reverted.
        never_run: atoms (or map elements) that must never execute.
        never_reverted: atoms a failed revert blocks: never reverted.
        revert_failed: atoms that must end REVERT_FAILURE.
    """

    build: Callable[[EffectLog], sf.Flow]
    ends: FlowState
    engine: EngineKind = "serial"
    options: Mapping[str, Any] = field(default_factory=dict)
    store: Mapping[str, Any] = field(default_factory=dict)
    kept: frozenset[str] = frozenset()
    never_run: frozenset[str] = frozenset()
    never_reverted: frozenset[str] = frozenset()
    revert_failed: frozenset[str] = frozenset()


def _fanout(log: EffectLog) -> sf.Flow:
    branches = [Work(f"b{i}", log, duration=0.001 * (1 + i % 5)) for i in range(8)]
    return sf.Linear("fanout", Work("head", log), sf.Unordered("fan", *branches), Work("tail", log))


def _graph_revert(log: EffectLog) -> sf.Flow:
    head, tail = Work("head", log), Work("tail", log, fail_until=ALWAYS)
    middle = [Work(f"m{i}", log, duration=0.001 * (1 + i)) for i in range(5)]
    graph = sf.Graph("diamond").add(head, *middle, tail)
    for task in middle:
        graph.link(head, task).link(task, tail)
    return graph


def _nested_retry(log: EffectLog) -> sf.Flow:
    inner = sf.Linear(
        "inner",
        Work("i1", log),
        Work("i2", log, fail_until=1),
        Work("i3", log),
        retry=Times(3, name="inner.retry"),
    )
    return sf.Linear(
        "outer",
        Work("o1", log),
        inner,
        Work("o2", log, fail_until=1),
        Work("o3", log),
        retry=Times(3, name="outer.retry"),
    )


def _scoped(log: EffectLog) -> sf.Flow:
    inner = sf.Linear(
        "inner",
        Work("i1", log),
        Work("i2", log),
        Work("i3", log, fail_until=ALWAYS),
        retry=Times(3, name="inner.retry"),
    )
    return sf.Linear("outer", Work("o1", log), Work("o2", log), inner, Work("o3", log))


def _revert_fails(log: EffectLog) -> sf.Flow:
    return sf.Linear(
        "undoable",
        Work("a1", log),
        Work("a2", log),
        Work("stuck", log, revert_fails=True),
        Work("c1", log),
        Work("c2", log),
        Work("boom", log, fail_until=ALWAYS),
    )


def _batched_chain(log: EffectLog) -> sf.Flow:
    steps = [Work(f"s{i}", log) for i in range(8)]
    return sf.Linear("batched", *steps, Work("last", log, fail_until=ALWAYS))


def _revert_fails_in_retry(log: EffectLog) -> sf.Flow:
    inner = sf.Linear(
        "inner",
        Work("x", log, revert_fails=True),
        Work("y", log, fail_until=1),
        retry=Times(3, name="inner.retry"),
    )
    return sf.Linear("outer", Work("a", log), Work("b", log), inner, Work("z", log))


def _element_task(log: EffectLog, fail_odd: bool) -> sf.FunctionTask[..., str]:
    def square(x: int) -> str:
        start = time.time()
        time.sleep(0.001 + 0.001 * (x % 3))
        if fail_odd and x % 2 and sf.current_context().attempt <= 1:
            log.write("exec", start, "fail")
            raise RuntimeError(f"element {x} fails its first attempt")
        log.write("exec", start, "ok")
        return f"{x * x}@{os.getpid()}"

    def unsquare(x: int) -> None:
        start = time.time()
        time.sleep(0.001)
        log.write("revert", start, "ok")

    return sf.task(square, name="square", revert=unsquare)


def _map_retry(log: EffectLog) -> sf.Flow:
    squares = sf.Map(
        _element_task(log, True), over="xs", provides="ys", name="squares", retry=Times(3)
    )
    return sf.Linear("mapped", Work("before", log), squares, Work("after", log))


def _map_revert(log: EffectLog) -> sf.Flow:
    squares = sf.Map(_element_task(log, False), over="xs", provides="ys", name="squares")
    return sf.Linear(
        "unmapped", Work("before", log), squares, Work("after", log, fail_until=ALWAYS)
    )


def _decided(log: EffectLog) -> sf.Flow:
    gate, off, after_off = Work("gate", log), Work("off", log), Work("after_off", log)
    on = [Work(f"on{i}", log) for i in range(6)]
    graph = sf.Graph("switch").add(gate, off, after_off, *on)
    graph.link(gate, off, decider=lambda history: False, depth="ALL")
    graph.link(off, after_off).link(gate, on[0])
    for before, after in itertools.pairwise(on):
        graph.link(before, after)
    return graph


def _asyncio(log: EffectLog) -> sf.Flow:
    branches = [AsyncWork(f"a{i}", log, duration=0.001 * (1 + i % 4)) for i in range(6)]
    return sf.Linear(
        "async",
        AsyncWork("head", log),
        sf.Unordered("fan", *branches),
        AsyncWork("last", log, fail_until=ALWAYS),
    )


SHAPES: Mapping[str, Shape] = {
    "fanout": Shape(_fanout, FlowState.SUCCESS, engine="parallel"),
    "graph_revert": Shape(_graph_revert, FlowState.REVERTED, engine="parallel"),
    "nested_retry": Shape(_nested_retry, FlowState.SUCCESS),
    "scope": Shape(
        _scoped, FlowState.REVERTED, options={"revert": "scope"}, kept=frozenset({"o1", "o2"})
    ),
    "revert_fails": Shape(
        _revert_fails,
        FlowState.FAILURE,
        never_reverted=frozenset({"a1", "a2"}),
        revert_failed=frozenset({"stuck"}),
    ),
    # the failed revert stops the retry and the whole flow is reverted (docs/engine.md)
    "revert_fails_in_retry": Shape(
        _revert_fails_in_retry, FlowState.FAILURE, revert_failed=frozenset({"x"})
    ),
    "map_retry": Shape(
        _map_retry, FlowState.SUCCESS, engine="parallel", store={"xs": list(range(8))}
    ),
    "map_revert": Shape(
        _map_revert, FlowState.REVERTED, engine="parallel", store={"xs": list(range(10))}
    ),
    "batched": Shape(_batched_chain, FlowState.REVERTED, options={"durability": "batched"}),
    "batched_retry": Shape(_nested_retry, FlowState.SUCCESS, options={"durability": "batched"}),
    "decider": Shape(_decided, FlowState.SUCCESS, never_run=frozenset({"off", "after_off"})),
    "asyncio": Shape(_asyncio, FlowState.REVERTED, engine="asyncio"),
}
"""Every shape by name; the child process looks its shape up here."""

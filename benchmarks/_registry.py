"""The workload registry: what each benchmark is, how it is measured and judged.

Standard library only: the peer scripts, which run in another virtual
environment without steadyflow, import this module too.

A workload is one function decorated with :func:`workload`. The function is the
steadyflow implementation: it takes a size ``n``, does its own setup, times
only the part being measured and returns a dict of measurements (at least
``seconds``). Peers implement the same workload name in ``peers/*.py`` with
:meth:`Impls.add`; a workload with no peer implementation runs on steadyflow
alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "METRICS",
    "WORKLOADS",
    "Impl",
    "Impls",
    "Metric",
    "Target",
    "Workload",
    "workload",
]

Measurements = dict[str, float]
Impl = Callable[[int], Measurements]


@dataclass(frozen=True)
class Metric:
    """How a measurement is shown: its key in the measurements, label and format."""

    key: str
    unit: str
    fmt: str = "{:.1f}"
    label: str = ""  # in the details column; defaults to the unit

    @property
    def detail_label(self) -> str:
        return self.label or self.unit

    def format(self, value: float | None) -> str:
        return "-" if value is None else self.fmt.format(value)


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("us_per_task", "µs/task", "{:.1f}"),
        Metric("ns_per_call", "ns/call", "{:.0f}"),
        Metric("ms", "ms", "{:.1f}"),
        Metric("seconds", "s", "{:.3f}"),
        Metric("rss_mb", "MB", "{:.0f}", label="peak RSS MB"),
        Metric("revert_us_per_task", "µs/task", "{:.1f}"),
        Metric("import_ms", "ms", "{:.1f}"),
        # Detail-only measurements.
        Metric("x_floor", "x floor", "{:,.0f}"),
        Metric("x_ideal", "x ideal", "{:.2f}"),
        Metric("modules", "modules", "{:.0f}"),
        Metric("new_store_ms", "ms", "{:.1f}", label="ms new store"),
    )
}


@dataclass(frozen=True)
class Target:
    """A goal for steadyflow's medians on one workload.

    ``check`` receives the steadyflow median of the workload's metric for each
    size measured and answers True (met), False (missed) or None (the sizes it
    needs were not measured in this run).
    """

    text: str
    check: Callable[[Mapping[int, float]], bool | None]


@dataclass(frozen=True)
class Workload:
    """One benchmark: a steadyflow implementation plus how to run and report it."""

    name: str
    title: str
    impl: Impl
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    metric: str
    target: Target | None = None
    note: str = ""
    # Extra measurements shown (steadyflow and peers) in the detail column.
    details: tuple[str, ...] = ()
    # Always run (even with --only) because other rows are compared with it.
    always: bool = False
    # Why a peer has no implementation, shown in its cell instead of "—".
    absent: tuple[tuple[str, str], ...] = ()


WORKLOADS: dict[str, Workload] = {}


def workload(
    name: str,
    *,
    title: str,
    sizes: tuple[int, ...],
    quick_sizes: tuple[int, ...] | None = None,
    metric: str = "us_per_task",
    target: Target | None = None,
    note: str = "",
    details: tuple[str, ...] = (),
    always: bool = False,
    absent: Mapping[str, str] | None = None,
) -> Callable[[Impl], Impl]:
    """Register the decorated function as the steadyflow side of workload ``name``."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; add it to METRICS")

    def register(fn: Impl) -> Impl:
        if name in WORKLOADS:
            raise ValueError(f"workload {name!r} registered twice")
        WORKLOADS[name] = Workload(
            name=name,
            title=title,
            impl=fn,
            sizes=sizes,
            quick_sizes=quick_sizes if quick_sizes is not None else sizes,
            metric=metric,
            target=target,
            note=note,
            details=details,
            always=always,
            absent=tuple((absent or {}).items()),
        )
        return fn

    return register


class Impls(dict[str, Impl]):
    """A peer's implementations by workload name: ``@IMPLS.add("serial_chain")``."""

    def add(self, name: str) -> Callable[[Impl], Impl]:
        def register(fn: Impl) -> Impl:
            if name in self:
                raise ValueError(f"{name!r} implemented twice")
            self[name] = fn
            return fn

        return register

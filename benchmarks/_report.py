"""Turning measurements into the terminal table, results.json and RESULTS.md."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from _registry import METRICS, Workload

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["IMPL_LABELS", "Cell", "Results", "markdown", "table_rows", "terminal", "to_json"]

IMPL_LABELS = {"steadyflow": "steadyflow", "taskflow": "TaskFlow", "dbos": "DBOS"}


@dataclass
class Cell:
    """Every run of one implementation at one (workload, n)."""

    runs: list[dict[str, float]] = field(default_factory=list)
    status: str = "ok"  # ok | dnf | error | unavailable
    message: str = ""
    wall: list[float] = field(default_factory=list)

    def median(self, key: str) -> float | None:
        values = [run[key] for run in self.runs if key in run]
        return statistics.median(values) if values else None

    @property
    def finished(self) -> bool:
        return self.status == "ok" and bool(self.runs)


# results[workload name][n][implementation] -> Cell
Results = dict[str, dict[int, dict[str, Cell]]]


def _ratio(peer: float | None, mine: float | None) -> str:
    if peer is None or mine is None or mine <= 0:
        return ""
    r = peer / mine
    return f"x{r:,.0f}" if r >= 10 else f"x{r:.2g}" if r < 1 else f"x{r:.1f}"


def _cell_text(cell: Cell | None, metric: str, ratio: str = "", absent: str = "") -> str:
    if cell is None:
        return absent or "—"
    if cell.status == "dnf":
        return f"DNF ({cell.message})" if cell.message else "DNF"
    if cell.status == "error":
        return "error"
    if cell.status == "unavailable":
        return "unavailable"
    text = METRICS[metric].format(cell.median(metric))
    return f"{text} ({ratio})" if ratio else text


def _floor_ns(results: Results) -> float | None:
    for by_impl in results.get("floor", {}).values():
        cell = by_impl.get("steadyflow")
        if cell is not None and cell.finished:
            return cell.median("ns_per_call")
    return None


def _detail(
    w: Workload, by_impl: Mapping[str, Cell], impls: Sequence[str], floor_ns: float | None
) -> str:
    parts = [
        f"{IMPL_LABELS[impl]} error: {cell.message[:100]}"
        for impl in impls
        if (cell := by_impl.get(impl)) is not None and cell.status == "error"
    ]
    for key in w.details:
        bits: list[str] = []
        for impl in impls:
            cell = by_impl.get(impl)
            if cell is None or not cell.finished:
                continue
            if key == "x_floor":
                us = cell.median(w.metric)
                value = None if us is None or not floor_ns else us * 1e3 / floor_ns
            else:
                value = cell.median(key)
            if value is not None:
                bits.append(f"{IMPL_LABELS[impl]} {METRICS[key].format(value)}")
        if bits:
            parts.append(f"{METRICS[key].detail_label}: " + ", ".join(bits))
    return "; ".join(parts)


def target_status(w: Workload, by_n: Mapping[int, Mapping[str, Cell]]) -> str:
    if w.target is None:
        return ""
    medians: dict[int, float] = {}
    for n, by_impl in by_n.items():
        cell = by_impl.get("steadyflow")
        value = cell.median(w.metric) if cell is not None and cell.finished else None
        if value is not None:
            medians[n] = value
    verdict = w.target.check(medians)
    word = {True: "met", False: "MISSED", None: "not measured"}[verdict]
    return f"{w.target.text} — {word}"


HEADERS = ("workload", "n", "unit", "steadyflow", "TaskFlow (peer/sf)", "DBOS (peer/sf)")


def table_rows(
    workloads: Sequence[Workload], results: Results, impls: Sequence[str]
) -> list[tuple[str, ...]]:
    """One row per (workload, n): name, n, unit, cells, target, details."""
    floor_ns = _floor_ns(results)
    rows: list[tuple[str, ...]] = []
    for w in workloads:
        by_n = results.get(w.name, {})
        target = target_status(w, by_n)
        for i, (n, by_impl) in enumerate(sorted(by_n.items())):
            sf_cell = by_impl.get("steadyflow")
            mine = sf_cell.median(w.metric) if sf_cell is not None and sf_cell.finished else None
            cells = [_cell_text(sf_cell, w.metric)]
            for peer in ("taskflow", "dbos"):
                cell = by_impl.get(peer)
                theirs = cell.median(w.metric) if cell is not None and cell.finished else None
                why = dict(w.absent).get(peer, "")
                cells.append(_cell_text(cell, w.metric, _ratio(theirs, mine), why))
            rows.append(
                (
                    w.name if i == 0 else "",
                    f"{n:,}",
                    METRICS[w.metric].unit,
                    *cells,
                    target if i == 0 else "",
                    _detail(w, by_impl, impls, floor_ns),
                )
            )
    return rows


def terminal(rows: Sequence[tuple[str, ...]]) -> str:
    """A plain aligned table; targets and details go on a second indented line."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*HEADERS), "  ".join("-" * w for w in widths)]
    for row in rows:
        lines.append(fmt.format(*row[: len(HEADERS)]))
        extra = " | ".join(x for x in row[len(HEADERS) :] if x)
        if extra:
            lines.append(f"    {extra}")
    return "\n".join(lines)


def markdown(
    workloads: Sequence[Workload],
    rows: Sequence[tuple[str, ...]],
    meta: Mapping[str, Any],
) -> str:
    """The whole RESULTS.md text."""
    out = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`.venv/bin/python benchmarks/run.py`); do not edit by hand.",
        "",
        "| | |",
        "|---|---|",
    ]
    for key, value in meta.items():
        out.append(f"| {key} | {value} |")
    out += [
        "",
        "Medians over the repetitions; each repetition is a fresh process, and the "
        "implementations alternate (steadyflow, TaskFlow, DBOS, steadyflow, ...). "
        "The figure in brackets is peer ÷ steadyflow: above 1, steadyflow is faster "
        "(or smaller). DNF: the process did not finish within the time limit "
        "(setup included); nothing is extrapolated. — : no such implementation.",
        "",
        "| " + " | ".join((*HEADERS, "target (steadyflow)", "details")) + " |",
        "|" + "|".join(["---", "--:", "---", "--:", "--:", "--:", "---", "---"]) + "|",
    ]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    out += ["", "## Workloads", ""]
    for w in workloads:
        note = f" {w.note}" if w.note else ""
        out.append(f"- **{w.name}**: {w.title}.{note}")
    out.append("")
    return "\n".join(out)


def to_json(
    workloads: Sequence[Workload], results: Results, meta: Mapping[str, Any]
) -> dict[str, Any]:
    """Everything measured, for results.json."""
    items = []
    for w in workloads:
        by_n = results.get(w.name, {})
        items.append(
            {
                "name": w.name,
                "title": w.title,
                "metric": w.metric,
                "unit": METRICS[w.metric].unit,
                "target": target_status(w, by_n),
                "note": w.note,
                "sizes": {
                    str(n): {
                        impl: {
                            "status": cell.status,
                            "message": cell.message,
                            "median": cell.median(w.metric),
                            "runs": cell.runs,
                            "process_seconds": cell.wall,
                        }
                        for impl, cell in by_impl.items()
                    }
                    for n, by_impl in sorted(by_n.items())
                },
            }
        )
    return {"meta": dict(meta), "workloads": items}

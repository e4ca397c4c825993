"""Turning flows into text: tables, trees, timelines, Mermaid and Graphviz graphs.

Pure functions from the view model (:mod:`steadyflow._inspect`) and query
records to lines of text; nothing here reads a store or writes to a stream.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from steadyflow._inspect import AtomView, FlowNode, FlowView
    from steadyflow.failure import Failure
    from steadyflow.persistence.query import FlowSummary

__all__ = [
    "Style",
    "dot",
    "flow_to_dict",
    "format_duration",
    "format_time",
    "history_lines",
    "history_to_list",
    "mermaid",
    "table",
    "tree_lines",
]

_COLOURS = {
    "SUCCESS": "32",
    "FAILURE": "31",
    "REVERT_FAILURE": "31",
    "REVERTED": "33",
    "REVERTING": "33",
    "RUNNING": "36",
    "RETRYING": "36",
    "RESUMING": "36",
    "SUSPENDED": "35",
    "SUSPENDING": "35",
}

# Fill and stroke per state in drawn graphs (pending and unknown: grey).
_FILLS = {
    "SUCCESS": ("#d4f4dd", "#2e7d32"),
    "FAILURE": ("#fbd5d5", "#c62828"),
    "REVERT_FAILURE": ("#fbd5d5", "#c62828"),
    "REVERTED": ("#fff1c2", "#b26a00"),
    "REVERTING": ("#fff1c2", "#b26a00"),
    "RUNNING": ("#d2ecfb", "#1565c0"),
    "RETRYING": ("#d2ecfb", "#1565c0"),
    "IGNORE": ("#eeeeee", "#9e9e9e"),
}
_PENDING_FILL = ("#f5f5f5", "#757575")


class Style:
    """Whether to colour states (a terminal that has not asked for NO_COLOR)."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def state(self, state: str, width: int = 0) -> str:
        """``state`` padded to ``width``, coloured when colour is on."""
        text = state.ljust(width)
        code = _COLOURS.get(state)
        if not self.colour or code is None:
            return text
        return f"\033[{code}m{state}\033[0m" + text[len(state) :]

    def dim(self, text: str) -> str:
        """Secondary text (tracebacks, keys), dimmed when colour is on."""
        return f"\033[2m{text}\033[0m" if self.colour else text


def format_time(at: float | None) -> str:
    """Local time to the second, e.g. ``2026-11-30 23:40:12``; ``-`` when unknown."""
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def format_duration(seconds: float | None) -> str:
    """A short duration: ``850 ms``, ``4.2 s``, ``3 min 05 s``, ``2 h 04 min``."""
    if seconds is None:
        return "-"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], style: Style, state_column: int = -1
) -> list[str]:
    """Aligned columns under a header; the ``state_column`` is coloured."""
    body = [list(row) for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in body:
        cells = [
            style.state(cell, width) if index == state_column else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def summary_row(flow: FlowSummary) -> list[str]:
    """A flow's cells in ``flows list``: id, state, name, created, last written."""
    return [
        flow.uuid,
        flow.state.value,
        flow.name,
        format_time(flow.created_at),
        format_time(flow.updated_at),
    ]


# -- one flow ----------------------------------------------------------------------------


def _reruns(runs: int) -> str:
    return f", executed {runs} times (resumed after a crash)" if runs > 1 else ""


def _type_name(failure: Failure) -> str:
    return failure.exc_type_name.removeprefix("builtins.")


def _failure_lines(label: str, failure: Failure, indent: str, style: Style) -> list[str]:
    lines = [f"{indent}{label}: {_type_name(failure)}: {failure.message}"]
    trace = failure.traceback_str.rstrip()
    if trace:
        lines.extend(style.dim(f"{indent}  {line}") for line in trace.splitlines())
    return lines


def _atom_lines(atom: AtomView, indent: str, style: Style) -> list[str]:
    """The detail lines under an atom in the tree."""
    lines: list[str] = []
    if len(atom.attempts) > 1 or atom.past_failures or any(a.runs > 1 for a in atom.attempts):
        lines.extend(
            f"{indent}attempt {attempt.number}: {attempt.outcome or '-'}, "
            f"{format_duration(attempt.duration)}, key {attempt.idempotency_key}"
            + (
                f", executed {attempt.runs} times (resumed after a crash)"
                if attempt.runs > 1
                else ""
            )
            for attempt in atom.attempts
        )
    for past in atom.past_failures:
        lines.extend(
            _failure_lines(
                f"failed in attempt {past.retry_attempt} of {past.retry}",
                past.failure,
                indent,
                style,
            )
        )
    if atom.failure is not None:
        lines.extend(_failure_lines("failure", atom.failure, indent, style))
    if atom.revert_failure is not None:
        lines.extend(_failure_lines("revert failure", atom.revert_failure, indent, style))
    for element in atom.elements:
        if element.state == "SUCCESS" and element.failure is None:
            continue
        lines.append(
            f"{indent}element {element.position}: {element.state}, "
            f"{element.attempts} attempt(s), key {element.idempotency_key}"
        )
        if element.failure is not None:
            lines.extend(_failure_lines("failure", element.failure, indent + "  ", style))
    return lines


def _atom_title(atom: AtomView) -> str:
    return atom.name if atom.kind == "task" else f"{atom.name} [{atom.kind}]"


def _depth(node: FlowNode) -> int:
    return 1 + max((_depth(c) for c in node.children if not isinstance(c, str)), default=0)


def _atom_head(atom: AtomView, width: int, style: Style) -> str:
    parts = [f"{_atom_title(atom).ljust(width)}  {style.state(atom.state.value, 14)}"]
    if atom.attempt:
        parts.append(f"attempt {atom.attempt}")
    if atom.duration is not None:
        parts.append(format_duration(atom.duration))
    if atom.progress is not None and atom.state.value == "RUNNING":
        parts.append(f"{atom.progress:.0%}")
    if atom.idempotency_key is not None:
        parts.append(style.dim(f"key {atom.idempotency_key}"))
    return "  ".join(parts)


def tree_lines(view: FlowView, style: Style) -> list[str]:
    """The flow as a tree: sub-flows nested, each atom with its state and details."""
    width = max((len(_atom_title(a)) for a in view.atoms.values()), default=0) + 4 * _depth(
        view.root
    )
    lines: list[str] = []

    def flow_head(node: FlowNode) -> str:
        retry = f", retry {node.retry}" if node.retry else ""
        return f"{node.name} ({node.kind}{retry})"

    def walk(node: FlowNode, prefix: str) -> None:
        children = node.children
        for position, child in enumerate(children):
            last = position == len(children) - 1
            branch, deeper = ("└── ", "    ") if last else ("├── ", "│   ")
            if isinstance(child, str):
                atom = view.atoms[child]
                pad = max(0, width - len(prefix) - 4)
                lines.append(prefix + branch + _atom_head(atom, pad, style))
                lines.extend(_atom_lines(atom, prefix + deeper + "    ", style))
            else:
                lines.append(prefix + branch + flow_head(child))
                walk(child, prefix + deeper)

    lines.append(flow_head(view.root))
    walk(view.root, "")
    return lines


def _failure_dict(failure: Failure | None) -> dict[str, Any] | None:
    if failure is None:
        return None
    return {
        "type": failure.exc_type_name,
        "message": failure.message,
        "traceback": failure.traceback_str,
    }


def _tree_dict(node: FlowNode) -> dict[str, Any]:
    return {
        "flow": node.name,
        "kind": node.kind,
        "retry": node.retry,
        "children": [c if isinstance(c, str) else _tree_dict(c) for c in node.children],
    }


def _jsonable(value: Any) -> Any:
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def atom_to_dict(atom: AtomView) -> dict[str, Any]:
    """An atom of ``flows show --json``."""
    return {
        "name": atom.name,
        "kind": atom.kind,
        "state": atom.state.value,
        "intention": atom.intention,
        "attempt": atom.attempt,
        "idempotency_key": atom.idempotency_key,
        "duration": atom.duration,
        "progress": atom.progress,
        "after": list(atom.after),
        "attempts": [
            {
                "number": a.number,
                "idempotency_key": a.idempotency_key,
                "started_at": a.started_at,
                "ended_at": a.ended_at,
                "duration": a.duration,
                "outcome": a.outcome,
                "runs": a.runs,
            }
            for a in atom.attempts
        ],
        "failure": _failure_dict(atom.failure),
        "revert_failure": _failure_dict(atom.revert_failure),
        "past_failures": [
            {"retry": p.retry, "retry_attempt": p.retry_attempt, **(_failure_dict(p.failure) or {})}
            for p in atom.past_failures
        ],
        "elements": [
            {
                "index": e.position,
                "state": e.state,
                "attempts": e.attempts,
                "idempotency_key": e.idempotency_key,
                "failure": _failure_dict(e.failure),
            }
            for e in atom.elements
        ],
        "result": _jsonable(atom.result),
        "created_at": atom.created_at,
        "updated_at": atom.updated_at,
    }


def flow_to_dict(view: FlowView, store: str) -> dict[str, Any]:
    """What ``flows show --json`` prints."""
    return {
        "store": store,
        "uuid": view.uuid,
        "name": view.name,
        "state": view.state.value,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
        "version": view.version,
        "factory": view.factory,
        "structure_known": view.structure_known,
        "atoms_done": view.done,
        "atoms_total": len(view.atoms),
        "tree": _tree_dict(view.root),
        "edges": [list(edge) for edge in view.edges],
        "atoms": [atom_to_dict(atom) for atom in view.atoms.values()],
    }


# -- history ------------------------------------------------------------------------------


def history_lines(view: FlowView, style: Style) -> list[str]:
    """The transitions, oldest first: time, offset from the first, subject, change."""
    if not view.transitions:
        return []
    start = view.transitions[0].at
    width = max(len(t.atom or "(flow)") for t in view.transitions)
    lines = []
    for entry in view.transitions:
        offset = f"+{entry.at - start:.3f}s"
        subject = (entry.atom or "(flow)").ljust(width)
        change = style.state(entry.state)
        if entry.previous is not None:
            change = f"{style.state(entry.previous)} -> {change}"
        attempt = f"  attempt {entry.attempt}" if entry.atom is not None and entry.attempt else ""
        millis = f"{entry.at % 1:.3f}"[1:]
        lines.append(f"{format_time(entry.at)}{millis}  {offset:>10}  {subject}  {change}{attempt}")
    return lines


def history_to_list(view: FlowView) -> list[dict[str, Any]]:
    """What ``flows history --json`` prints under ``transitions``."""
    return [
        {
            "at": t.at,
            "atom": t.atom,
            "state": t.state,
            "previous": t.previous,
            "attempt": t.attempt,
        }
        for t in view.transitions
    ]


# -- graphs -------------------------------------------------------------------------------


def _ids(view: FlowView) -> dict[str, str]:
    return {name: f"a{index}" for index, name in enumerate(view.atoms)}


def _label(atom: AtomView) -> str:
    return f"{_atom_title(atom)}\n{atom.state.value}"


def mermaid(view: FlowView) -> str:
    """The flow as a Mermaid flowchart: sub-flows as subgraphs, atoms filled by state."""
    ids = _ids(view)
    lines = ["flowchart TD"]
    counter = iter(range(len(view.atoms) + 1_000_000))

    def quote(text: str) -> str:
        return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'

    def walk(node: FlowNode, indent: str) -> None:
        for child in node.children:
            if isinstance(child, str):
                lines.append(f"{indent}{ids[child]}[{quote(_label(view.atoms[child]))}]")
            else:
                lines.append(f"{indent}subgraph f{next(counter)}[{quote(child.name)}]")
                walk(child, indent + "  ")
                lines.append(f"{indent}end")

    walk(view.root, "  ")
    lines.extend(f"  {ids[before]} --> {ids[after]}" for before, after in view.edges)
    states = sorted({atom.state.value for atom in view.atoms.values()})
    for state in states:
        fill, stroke = _FILLS.get(state, _PENDING_FILL)
        lines.append(f"  classDef s_{state} fill:{fill},stroke:{stroke}")
        members = ",".join(ids[n] for n, a in view.atoms.items() if a.state.value == state)
        lines.append(f"  class {members} s_{state}")
    return "\n".join(lines) + "\n"


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(view: FlowView) -> str:
    """The flow as a Graphviz digraph: sub-flows as clusters, atoms filled by state."""
    ids = _ids(view)
    lines = [
        f"digraph {_dot_string(view.name)} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
        f"  label={_dot_string(f'{view.name} ({view.state.value})')};",
    ]
    counter = iter(range(len(view.atoms) + 1_000_000))

    def walk(node: FlowNode, indent: str) -> None:
        for child in node.children:
            if isinstance(child, str):
                atom = view.atoms[child]
                fill, stroke = _FILLS.get(atom.state.value, _PENDING_FILL)
                lines.append(
                    f"{indent}{ids[child]} [label={_dot_string(_label(atom))}, "
                    f'fillcolor="{fill}", color="{stroke}"];'
                )
            else:
                lines.append(f"{indent}subgraph cluster_{next(counter)} {{")
                lines.append(f"{indent}  label={_dot_string(f'{child.name} ({child.kind})')};")
                walk(child, indent + "  ")
                lines.append(f"{indent}}}")

    walk(view.root, "  ")
    lines.extend(f"  {ids[before]} -> {ids[after]};" for before, after in view.edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def dumps(data: Mapping[str, Any] | Sequence[Any]) -> str:
    """JSON as the CLI prints it: UTF-8 text, two-space indent."""
    import json

    return json.dumps(data, indent=2, ensure_ascii=False, default=repr)

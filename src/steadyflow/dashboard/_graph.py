"""Where each atom of a flow's graph is drawn: a layered, left-to-right layout.

The SVG itself is written by the ``_graph.html`` template (so every name is
escaped by Jinja); this module only computes boxes and edge paths. Layers
are longest paths from the sources, which keeps every edge pointing right,
and each layer is ordered by the mean position of its predecessors, one
pass: enough to keep the flows people draw (chains, fan-outs, diamonds)
free of most crossings without a layout engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["GraphBox", "GraphEdge", "GraphLayout", "layout_graph"]

BOX_WIDTH = 168
BOX_HEIGHT = 34
GAP_X = 56
GAP_Y = 16
MARGIN = 12
LABEL_CHARS = 22
"""Names longer than this are cut in the box (the full name is in its tooltip)."""


@dataclass(frozen=True, slots=True)
class GraphBox:
    """One atom's box: its name, state and where it is drawn."""

    name: str
    label: str
    state: str
    kind: str
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """One dependency, as an SVG path from the provider's box to the consumer's."""

    source: str
    target: str
    path: str


@dataclass(frozen=True, slots=True)
class GraphLayout:
    """Everything the template needs to draw the graph."""

    boxes: tuple[GraphBox, ...]
    edges: tuple[GraphEdge, ...]
    width: int
    height: int
    box_width: int = BOX_WIDTH
    box_height: int = BOX_HEIGHT


def _layers(names: Sequence[str], preds: Mapping[str, list[str]]) -> dict[str, int]:
    """Layer of each node: the length of the longest path reaching it.

    ``names`` must be in a topological order (the plan's node order is one);
    an edge from a node not yet seen is ignored rather than looped on.
    """
    layer: dict[str, int] = {}
    for name in names:
        before = [layer[p] for p in preds.get(name, ()) if p in layer]
        layer[name] = max(before, default=-1) + 1
    return layer


def _order_within_layers(
    names: Sequence[str], layer: Mapping[str, int], preds: Mapping[str, list[str]]
) -> list[list[str]]:
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    row_of: dict[str, float] = {}
    for column_index in range(len(columns)):
        members = [n for n in names if layer[n] == column_index]
        rank = {name: position for position, name in enumerate(members)}

        def barycenter(name: str, rank: Mapping[str, int] = rank) -> tuple[float, int]:
            rows = [row_of[p] for p in preds.get(name, ()) if p in row_of]
            return (sum(rows) / len(rows) if rows else float(rank[name]), rank[name])

        members.sort(key=barycenter)
        for row, name in enumerate(members):
            row_of[name] = float(row)
        columns[column_index] = members
    return columns


def _label(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "\u2026"


def layout_graph(
    names: Sequence[str],
    edges: Sequence[tuple[str, str]],
    states: Mapping[str, str],
    kinds: Mapping[str, str] | None = None,
) -> GraphLayout:
    """Place ``names`` (in topological order) and route ``edges`` between them.

    Args:
        names: every atom, providers before consumers.
        edges: (provider, consumer) pairs; pairs naming unknown atoms are dropped.
        states: atom name -> state value (absent: PENDING), for the box colour.
        kinds: atom name -> "task" or "retry".
    """
    known = set(names)
    kept = [(a, b) for a, b in edges if a in known and b in known and a != b]
    preds: dict[str, list[str]] = {}
    for source, target in kept:
        preds.setdefault(target, []).append(source)
    layer = _layers(names, preds)
    columns = _order_within_layers(names, layer, preds)
    place: dict[str, tuple[int, int]] = {}
    boxes = []
    for column_index, members in enumerate(columns):
        x = MARGIN + column_index * (BOX_WIDTH + GAP_X)
        for row, name in enumerate(members):
            y = MARGIN + row * (BOX_HEIGHT + GAP_Y)
            place[name] = (x, y)
            kind = (kinds or {}).get(name, "task")
            boxes.append(GraphBox(name, _label(name), states.get(name, "PENDING"), kind, x, y))
    paths = []
    for source, target in kept:
        (sx, sy), (tx, ty) = place[source], place[target]
        x1, y1 = sx + BOX_WIDTH, sy + BOX_HEIGHT // 2
        x2, y2 = tx - 2, ty + BOX_HEIGHT // 2
        bend = max((x2 - x1) // 2, 12)
        path = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
        paths.append(GraphEdge(source, target, path))
    tallest = max((len(c) for c in columns), default=0)
    width = 2 * MARGIN + max(len(columns), 1) * (BOX_WIDTH + GAP_X) - GAP_X
    height = 2 * MARGIN + max(tallest, 1) * (BOX_HEIGHT + GAP_Y) - GAP_Y
    return GraphLayout(tuple(boxes), tuple(paths), width, height)

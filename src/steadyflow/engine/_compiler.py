"""Flow tree -> :class:`Plan`, in one pass over atoms and edges.

Nodes are created depth first, and a graph's children are compiled in a
topological order of that graph, so creation order is already a topological
order of the whole plan and every flow covers a contiguous range of nodes.

Input resolution happens here too. An atom's inputs are looked up in the
scopes visible to it: earlier items of a linear flow (the nearest wins),
the sibling providers a graph flow orders before it, the controller of
each enclosing flow, then the same, walking out through enclosing flows.
What is not found must come from the store, which is checked when the
engine is prepared with one.
"""

from __future__ import annotations

from collections import ChainMap, deque
from collections.abc import Mapping, Sequence
from typing import Any

from steadyflow.atom import Atom
from steadyflow.engine._plan import Ambiguous, Binding, DeciderRef, Node, Plan, Scope
from steadyflow.errors import CycleError, DependencyError, DuplicateNameError, InvalidAtomError
from steadyflow.flow.base import Flow
from steadyflow.flow.graph import Graph
from steadyflow.flow.unordered import Unordered

__all__ = ["compile_flow"]

Ref = tuple[int, Any] | Ambiguous
"""A visible provider: (node index, key into its result), or an ambiguity."""


def compile_flow(flow: Flow) -> Plan:
    """The flow's plan, compiled once and cached until the flow changes.

    Raises:
        FlowError: the flow is not well formed (cycle, duplicate names, ...).
    """
    if not isinstance(flow, Flow):
        raise InvalidAtomError(f"expected a flow (Linear, Unordered or Graph), not {flow!r}")
    revision = flow.tree_revision()
    cached = flow._plan
    if cached is not None and flow._plan_revision == revision:
        return cached
    plan = _Compiler().build(flow)
    flow._plan = plan
    flow._plan_revision = revision
    return plan


class _Sub:
    """A compiled item: where it starts and ends, and what it offers later items."""

    __slots__ = ("end", "exports", "sinks", "sources", "start")

    def __init__(
        self,
        start: int,
        end: int,
        sources: list[int],
        sinks: list[int],
        exports: dict[str, Ref] | None = None,
    ) -> None:
        self.start = start
        self.end = end
        self.sources = sources
        self.sinks = sinks
        self.exports: dict[str, Ref] = {} if exports is None else exports


class _PendingNode:
    """A node while the compiler still adds its edges and deciders."""

    __slots__ = ("atom", "bindings", "deciders", "preds", "retry", "scope")

    def __init__(self, atom: Atom, scope: int, retry: int, bindings: tuple[Binding, ...]) -> None:
        self.atom = atom
        self.scope = scope
        self.retry = retry
        self.bindings = bindings
        self.preds: list[int] = []
        self.deciders: list[DeciderRef] = []


def _exports_of(atom: Atom, index: int) -> dict[str, Ref]:
    spec = atom.provides_spec
    return {name: (index, key) for name, key in zip(spec.names, spec.keys, strict=True)}


class _Compiler:
    def __init__(self) -> None:
        self.nodes: list[_PendingNode] = []
        self.names: dict[str, int] = {}
        self.scopes: list[Scope | None] = []
        self.deciders: list[DeciderRef] = []
        self.flows_seen: set[int] = set()
        self.summary_cache: dict[int, tuple[frozenset[str], frozenset[str]]] = {}

    # -- whole plan -------------------------------------------------------------

    def build(self, flow: Flow) -> Plan:
        self._flow(flow, ChainMap(), parent=-1, retry=-1)
        succs: list[list[int]] = [[] for _ in self.nodes]
        for index, pending in enumerate(self.nodes):
            for pred in pending.preds:
                succs[pred].append(index)
        nodes = tuple(
            Node(
                index=index,
                name=pending.atom.name,
                atom=pending.atom,
                is_retry=_is_retry(pending.atom),
                preds=tuple(dict.fromkeys(pending.preds)),
                succs=tuple(dict.fromkeys(succs[index])),
                scope=pending.scope,
                retry=pending.retry,
                bindings=pending.bindings,
                injected=dict(pending.atom.inject),
                deciders=tuple(pending.deciders),
            )
            for index, pending in enumerate(self.nodes)
        )
        providers: dict[str, list[int]] = {}
        for node in nodes:
            for name in node.atom.provides:
                providers.setdefault(name, []).append(node.index)
        return Plan(
            flow_name=flow.name,
            nodes=nodes,
            scopes=tuple(scope for scope in self.scopes if scope is not None),
            by_name=dict(self.names),
            providers={name: tuple(indices) for name, indices in providers.items()},
        )

    # -- atoms --------------------------------------------------------------------

    def _atom(self, atom: Atom, visible: Mapping[str, Ref], scope: int, retry: int) -> _Sub:
        index = len(self.nodes)
        if atom.name in self.names:
            raise DuplicateNameError(
                f"two atoms are named {atom.name!r}; atom names must be unique in a flow "
                f"(pass name=... to tell them apart: a task is named after its function "
                f"or class unless given a name)"
            )
        self.names[atom.name] = index
        bindings = []
        for arg, symbol in atom.arg_symbols.items():
            if arg in atom.inject:
                continue
            ref = visible.get(symbol)
            if isinstance(ref, Ambiguous):
                provider: int | Ambiguous | None = ref
                key = None
            elif ref is None:
                provider, key = None, None
            else:
                provider, key = ref
            bindings.append(Binding(arg, symbol, provider, key, arg in atom.optional_args))
        self.nodes.append(_PendingNode(atom, scope, retry, tuple(bindings)))
        return _Sub(index, index + 1, [index], [index], _exports_of(atom, index))

    # -- flows --------------------------------------------------------------------

    def _flow(self, flow: Flow, visible: ChainMap[str, Ref], parent: int, retry: int) -> _Sub:
        if id(flow) in self.flows_seen:
            raise InvalidAtomError(
                f"flow {flow.name!r} appears twice in the tree; each flow object may be "
                f"used once (build another for a second use)"
            )
        self.flows_seen.add(id(flow))
        scope_index = len(self.scopes)
        self.scopes.append(None)
        start = len(self.nodes)
        own_retry = -1
        inner_visible = visible
        if flow.retry is not None:
            controller = self._atom(flow.retry, visible, scope_index, retry)
            own_retry = controller.start
            inner_visible = visible.new_child(controller.exports)
        inner_retry = own_retry if own_retry >= 0 else retry
        if isinstance(flow, Graph):
            body = self._graph(flow, inner_visible, scope_index, inner_retry)
        elif isinstance(flow, Unordered):
            body = self._unordered(flow, inner_visible, scope_index, inner_retry)
        else:
            body = self._linear(flow, inner_visible, scope_index, inner_retry)
        end = len(self.nodes)
        self.scopes[scope_index] = Scope(
            scope_index, flow.name, flow, parent, own_retry, range(start, end)
        )
        if own_retry < 0:
            return _Sub(start, end, body.sources, body.sinks, body.exports)
        for source in body.sources:
            self.nodes[source].preds.append(own_retry)
        return _Sub(start, end, [own_retry], body.sinks or [own_retry], body.exports)

    def _item(self, item: Atom | Flow, visible: ChainMap[str, Ref], scope: int, retry: int) -> _Sub:
        if isinstance(item, Flow):
            return self._flow(item, visible, scope, retry)
        return self._atom(item, visible, scope, retry)

    def _connect(self, sinks: Sequence[int], sources: Sequence[int]) -> None:
        for source in sources:
            self.nodes[source].preds.extend(sinks)

    def _linear(self, flow: Flow, visible: ChainMap[str, Ref], scope: int, retry: int) -> _Sub:
        local: dict[str, Ref] = {}
        seen_by_children = visible.new_child(local)
        start = len(self.nodes)
        sources: list[int] = []
        sinks: list[int] = []
        for child in flow:
            sub = self._item(child, seen_by_children, scope, retry)
            if sub.sources:
                self._connect(sinks, sub.sources)
                sources = sources or sub.sources
            if sub.sinks:
                sinks = sub.sinks
            local.update(sub.exports)
        return _Sub(start, len(self.nodes), sources, sinks, local)

    def _unordered(self, flow: Flow, visible: ChainMap[str, Ref], scope: int, retry: int) -> _Sub:
        children = list(flow)
        summaries = [self._summary(child) for child in children]
        offered_by: dict[str, list[int]] = {}
        for j, (_, offers) in enumerate(summaries):
            for name in offers:
                offered_by.setdefault(name, []).append(j)
        for i, (needs, _) in enumerate(summaries):
            for name in needs:
                j = next((j for j in offered_by.get(name, ()) if j != i), -1)
                if j < 0:
                    continue
                clash = needs & summaries[j][1]
                if clash:
                    raise DependencyError(
                        f"unordered flow {flow.name!r}: {children[i].name!r} requires "
                        f"{sorted(clash)} which its sibling {children[j].name!r} provides; "
                        f"items of an unordered flow must be independent (use a Linear or "
                        f"Graph flow to order them)"
                    )
        start = len(self.nodes)
        sources: list[int] = []
        sinks: list[int] = []
        offered: dict[str, list[tuple[str, Ref]]] = {}
        for child in children:
            sub = self._item(child, visible, scope, retry)
            sources.extend(sub.sources)
            sinks.extend(sub.sinks)
            for name, ref in sub.exports.items():
                offered.setdefault(name, []).append((child.name, ref))
        exports = {
            name: refs[0][1] if len(refs) == 1 else Ambiguous(tuple(n for n, _ in refs))
            for name, refs in offered.items()
        }
        return _Sub(start, len(self.nodes), sources, sinks, exports)

    # -- graphs ---------------------------------------------------------------------

    def _graph(self, flow: Graph, visible: ChainMap[str, Ref], scope: int, retry: int) -> _Sub:
        children = list(flow)
        position = {id(child): i for i, child in enumerate(children)}
        summaries = [self._summary(child) for child in children]
        offered_by: dict[str, list[int]] = {}
        for i, (_, offers) in enumerate(summaries):
            for name in offers:
                offered_by.setdefault(name, []).append(i)
        edges = _graph_edges(flow, position, summaries, offered_by)
        order = _topological(flow, children, edges)
        keep = _targeted(flow, children, position, edges)
        preds: list[list[int]] = [[] for _ in children]
        for i, targets in enumerate(edges):
            for j in targets:
                preds[j].append(i)
        ancestry = _Ancestry(preds)
        subs: dict[int, _Sub] = {}
        start = len(self.nodes)
        for j in (j for j in order if j in keep):
            local: dict[str, Ref] = {}
            for name in summaries[j][0]:
                candidates = [i for i in offered_by.get(name, ()) if i != j and i in subs]
                if candidates:
                    local[name] = _nearest(name, candidates, subs, children, ancestry)
            sub = self._item(children[j], visible.new_child(local), scope, retry)
            subs[j] = sub
            for i in preds[j]:
                if i in subs:
                    self._connect(subs[i].sinks, sub.sources)
        self._add_deciders(flow, position, subs, range(start, len(self.nodes)))
        return self._graph_sub(start, subs, preds, edges, children, ancestry)

    def _graph_sub(
        self,
        start: int,
        subs: dict[int, _Sub],
        preds: list[list[int]],
        edges: list[set[int]],
        children: list[Atom | Flow],
        ancestry: _Ancestry,
    ) -> _Sub:
        sources = [
            s
            for j, sub in subs.items()
            if not any(i in subs for i in preds[j])
            for s in sub.sources
        ]
        sinks = [
            s for j, sub in subs.items() if not any(k in subs for k in edges[j]) for s in sub.sinks
        ]
        exported: dict[str, list[int]] = {}
        for j, sub in subs.items():
            for name in sub.exports:
                exported.setdefault(name, []).append(j)
        exports = {
            name: _nearest(name, owners, subs, children, ancestry)
            for name, owners in exported.items()
        }
        return _Sub(start, len(self.nodes), sources, sinks, exports)

    def _add_deciders(
        self, flow: Graph, position: Mapping[int, int], subs: Mapping[int, _Sub], graph: range
    ) -> None:
        for link in flow.links:
            if link.decider is None:
                continue
            source = subs.get(position[id(link.source)])
            target = subs.get(position[id(link.target)])
            if source is None or target is None:
                continue
            ref = DeciderRef(
                index=len(self.deciders),
                fn=link.decider,
                source=range(source.start, source.end),
                target=range(target.start, target.end),
                depth=link.depth,
                graph=graph,
            )
            self.deciders.append(ref)
            for node in target.sources:
                self.nodes[node].deciders.append(ref)

    # -- summaries ------------------------------------------------------------------

    def _summary(self, item: Atom | Flow) -> tuple[frozenset[str], frozenset[str]]:
        """(names the item needs from outside, names it offers to later items)."""
        if not isinstance(item, Flow):
            return item.requires | item.optional, frozenset(item.provides)
        cached = self.summary_cache.get(id(item))
        if cached is not None:
            return cached
        needs: set[str] = set()
        offers: set[str] = set()
        scoped: set[str] = set()
        if item.retry is not None:
            needs |= item.retry.requires | item.retry.optional
            scoped |= set(item.retry.provides)
        for child in item:
            child_needs, child_offers = self._summary(child)
            needs |= child_needs
            offers |= child_offers
        result = frozenset(needs - offers - scoped), frozenset(offers)
        self.summary_cache[id(item)] = result
        return result


def _is_retry(atom: Atom) -> bool:
    from steadyflow.retry import Retry

    return isinstance(atom, Retry)


class _Ancestry:
    """Answers "does i precede j" in a graph flow's child DAG, memoized."""

    def __init__(self, preds: Sequence[Sequence[int]]) -> None:
        self.preds = preds
        self.cache: dict[int, set[int]] = {}

    def ancestors(self, j: int) -> set[int]:
        found = self.cache.get(j)
        if found is not None:
            return found
        found = set()
        stack = list(self.preds[j])
        while stack:
            i = stack.pop()
            if i not in found:
                found.add(i)
                stack.extend(self.preds[i])
        self.cache[j] = found
        return found


def _nearest(
    name: str,
    candidates: Sequence[int],
    subs: Mapping[int, _Sub],
    children: Sequence[Atom | Flow],
    ancestry: _Ancestry,
) -> Ref:
    """The export of the candidate every other candidate precedes, else an ambiguity."""
    if len(candidates) == 1:
        return subs[candidates[0]].exports[name]
    for c in candidates:
        before = ancestry.ancestors(c)
        if all(other == c or other in before for other in candidates):
            return subs[c].exports[name]
    return Ambiguous(tuple(children[c].name for c in candidates))


def _graph_edges(
    flow: Graph,
    position: Mapping[int, int],
    summaries: list[tuple[frozenset[str], frozenset[str]]],
    offered_by: Mapping[str, list[int]],
) -> list[set[int]]:
    """Child -> children after it: explicit links plus provider -> consumer edges."""
    edges: list[set[int]] = [set() for _ in summaries]
    for link in flow.links:
        edges[position[id(link.source)]].add(position[id(link.target)])
    for j, (needs, _) in enumerate(summaries):
        for name in needs:
            for i in offered_by.get(name, ()):
                if i != j:
                    edges[i].add(j)
    return edges


def _topological(flow: Graph, children: Sequence[Atom | Flow], edges: list[set[int]]) -> list[int]:
    indegree = [0] * len(children)
    for targets in edges:
        for j in targets:
            indegree[j] += 1
    ready = deque(i for i, d in enumerate(indegree) if d == 0)
    order: list[int] = []
    while ready:
        i = ready.popleft()
        order.append(i)
        for j in sorted(edges[i]):
            indegree[j] -= 1
            if indegree[j] == 0:
                ready.append(j)
    if len(order) == len(children):
        return order
    cycle = _find_cycle({i for i, d in enumerate(indegree) if d > 0}, edges)
    names = [children[i].name for i in cycle]
    raise CycleError(
        f"graph {flow.name!r} has a cycle: {' -> '.join([*names, names[0]])} (edges come "
        f"from link() calls and from items requiring what another provides)",
        names,
    )


def _find_cycle(remaining: set[int], edges: list[set[int]]) -> list[int]:
    """A cycle among ``remaining``, the nodes Kahn's algorithm could not order.

    Each of them has a predecessor among them, so walking predecessors must
    come back to a node already on the path.
    """
    preds: dict[int, list[int]] = {node: [] for node in remaining}
    for i in remaining:
        for j in edges[i]:
            if j in remaining:
                preds[j].append(i)
    path: list[int] = []
    on_path: dict[int, int] = {}
    node = min(remaining)
    while node not in on_path:
        on_path[node] = len(path)
        path.append(node)
        node = min(preds[node])
    return list(reversed(path[on_path[node] :]))


def _targeted(
    flow: Graph,
    children: Sequence[Atom | Flow],
    position: Mapping[int, int],
    edges: list[set[int]],
) -> set[int]:
    """The children to compile: all, or the target and what it depends on."""
    target = flow.target_item
    if target is None:
        return set(range(len(children)))
    preds: list[list[int]] = [[] for _ in children]
    for i, targets in enumerate(edges):
        for j in targets:
            preds[j].append(i)
    wanted = position[id(target)]
    return _Ancestry(preds).ancestors(wanted) | {wanted}

"""Resolving every atom's inputs once, when a run is validated.

Inject and store values are fixed before anything runs; inputs that other
atoms provide are recorded as (parameter, provider node, key) reads that the
engine loop performs when the atom starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steadyflow.engine._plan import Ambiguous, Plan
from steadyflow.errors import AmbiguousProviderError, MissingRequirementError

__all__ = ["Dynamic", "prepare_arguments"]

Dynamic = tuple[tuple[str, int, Any, bool], ...]
"""Per node: (parameter, provider node, key, optional) for inputs other atoms provide."""


def prepare_arguments(
    plan: Plan, store: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[Dynamic]]:
    """Resolve every atom's inputs against ``store``; fail on what cannot be found.

    Returns per node the fixed arguments (inject and store values) and the
    arguments read from other atoms' results at run time. Inject wins, then
    the nearest visible provider that runs before the atom, then the store
    (TaskFlow's rule: data flow wins over the store). A store value behind a
    provider stays in the fixed arguments as the fallback, used when that
    provider is switched off by a decider.

    Raises:
        MissingRequirementError: a required input has no provider and no store value.
        AmbiguousProviderError: several providers are visible and none is nearest.
    """
    fixed: list[dict[str, Any]] = []
    dynamic: list[Dynamic] = []
    for node in plan.nodes:
        values = dict(node.injected)
        reads: list[tuple[str, int, Any, bool]] = []
        missing: list[str] = []
        for binding in node.bindings:
            in_store = binding.symbol in store
            if in_store:
                values[binding.arg] = store[binding.symbol]
            if isinstance(binding.provider, Ambiguous):
                raise AmbiguousProviderError(
                    f"atom {node.name!r} requires {binding.symbol!r}, which "
                    f"{list(binding.provider.providers)} all provide and none of them is "
                    f"ordered after the others; link them, rename one output, or rebind"
                )
            if binding.provider is not None:
                # With a store fallback the input is never missing, so it counts as optional.
                optional = binding.optional or in_store
                reads.append((binding.arg, binding.provider, binding.key, optional))
            elif not binding.optional and not in_store:
                missing.append(binding.symbol)
        if missing:
            raise MissingRequirementError(
                _missing_message(plan, node.index, missing, store), node.name, missing
            )
        fixed.append(values)
        dynamic.append(tuple(reads))
    return fixed, dynamic


def _missing_message(plan: Plan, index: int, missing: list[str], store: Mapping[str, Any]) -> str:
    """Say what is missing, and which atom provides it too late, when one does."""
    name = plan.nodes[index].name
    message = (
        f"atom {name!r} requires {missing}, which no atom before it provides and the store lacks"
    )
    late = []
    for symbol in missing:
        providers = plan.providers.get(symbol, ())
        later = [plan.nodes[i].name for i in providers if i > index]
        if later:
            late.append(f"{symbol!r} is provided by {later[0]!r}, which runs after {name!r}")
        elif providers:
            other = plan.nodes[providers[0]].name
            late.append(f"{symbol!r} is provided by {other!r}, which {name!r} cannot see")
    if late:
        return f"{message}; {'; '.join(late)} (reorder them, or put the value in the store)"
    available = sorted(set(store) | set(plan.providers))
    return f"{message}; available names: {available}"

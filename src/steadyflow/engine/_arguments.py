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
    arguments read from other atoms' results at run time. Inject wins over
    the store, and the store over providers.

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
            if binding.symbol in store:
                values[binding.arg] = store[binding.symbol]
            elif isinstance(binding.provider, Ambiguous):
                raise AmbiguousProviderError(
                    f"atom {node.name!r} requires {binding.symbol!r}, which "
                    f"{list(binding.provider.providers)} all provide and none of them is "
                    f"ordered after the others; link them, rename one output, or rebind"
                )
            elif binding.provider is not None:
                reads.append((binding.arg, binding.provider, binding.key, binding.optional))
            elif not binding.optional:
                missing.append(binding.symbol)
        if missing:
            available = sorted(set(store) | set(plan.providers))
            raise MissingRequirementError(
                f"atom {node.name!r} requires {missing}, which no atom before it provides "
                f"and the store lacks; available names: {available}",
                node.name,
                missing,
            )
        fixed.append(values)
        dynamic.append(tuple(reads))
    return fixed, dynamic

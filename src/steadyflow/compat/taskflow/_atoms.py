"""What the layer's tasks and retry controllers share: TaskFlow's way of naming results.

The one place the layer reaches into steadyflow's internals for atoms: a
TaskFlow task may return a value without ``provides`` (TaskFlow keeps it,
readable with ``storage.get(name)``), which steadyflow's declared-results
check refuses; :class:`KeptResult` is a ``ProvidesSpec`` that accepts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from steadyflow.atom import ProvidesSpec

__all__ = ["KeptResult", "default_name", "provides_spec", "rebind_for", "version_text"]


class KeptResult(ProvidesSpec):
    """Provides nothing, and keeps whatever the atom returns (TaskFlow's rule)."""

    def check(self, result: Any, owner: str) -> None:
        return None


def provides_spec(provides: Any, owner: str) -> ProvidesSpec:
    """steadyflow's spec for TaskFlow's ``provides`` (a name, or names by position).

    Raises:
        TypeError: ``provides`` is neither, as TaskFlow refuses it.
    """
    if provides is None or provides == () or provides == []:
        nothing = ProvidesSpec.parse(None, owner)
        return KeptResult(*nothing)
    if isinstance(provides, str):
        return ProvidesSpec.parse(provides, owner)
    if isinstance(provides, set | frozenset):
        return ProvidesSpec.parse({name: name for name in sorted(provides)}, owner)
    if isinstance(provides, Sequence):
        return ProvidesSpec.parse(tuple(provides), owner)
    raise TypeError(f"Atom provides parameter should be str, set or tuple/list, not {provides!r}")


def rebind_for(rebind: Any) -> Sequence[str] | Mapping[str, str] | None:
    """TaskFlow's ``rebind`` (list, tuple or dict) as steadyflow takes it."""
    if rebind is None or isinstance(rebind, Mapping):
        return rebind
    return list(rebind)


def requires_for(requires: Any) -> Iterable[str] | None:
    """TaskFlow's ``requires`` (a name or names) as steadyflow takes it."""
    if requires is None:
        return None
    if isinstance(requires, str):
        return [requires]
    return list(requires)


def default_name(cls: type) -> str:
    """TaskFlow's default atom name: the class's module and qualified name."""
    return f"{cls.__module__}.{cls.__qualname__}"


def version_text(version: Any) -> str:
    """``(1, 0)`` as ``"1.0"``, the way TaskFlow shows versions."""
    if isinstance(version, tuple | list):
        return ".".join(str(part) for part in version)
    return str(version)

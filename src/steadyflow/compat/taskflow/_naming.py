"""How TaskFlow names things: default atom names, versions, ``requires`` and ``rebind``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["default_name", "rebind_for", "requires_for", "version_text"]


def default_name(cls: type) -> str:
    """TaskFlow's default atom name: the class's module and qualified name."""
    return f"{cls.__module__}.{cls.__qualname__}"


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


def version_text(version: Any) -> str:
    """``(1, 0)`` as ``"1.0"``, the way TaskFlow shows versions."""
    if isinstance(version, tuple | list):
        return ".".join(str(part) for part in version)
    return str(version)

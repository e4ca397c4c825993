"""The one module of the layer that reaches into steadyflow's internals.

- ``steadyflow.atom.ProvidesSpec``, the record of how an atom's result maps
  onto provided names: a TaskFlow task may return a value without
  ``provides`` (TaskFlow keeps it, readable with ``storage.get(name)``),
  which steadyflow's declared-results check refuses; :class:`KeptResult` is
  a spec that accepts it (it can go once steadyflow keeps such results
  itself, issue 10). Tasks and retry controllers set it as their
  ``provides_spec``.
- A graph flow's target: steadyflow can set one (``Graph.target``) but not
  clear it, which TaskFlow's ``TargetedFlow.reset_target`` does.
- ``steadyflow.engine._persist.FactorySpec``: TaskFlow saves a factory defined
  in the running script (``__main__``), which ``sf.load(factory=...)`` refuses;
  the layer hands the engine a ready FactorySpec, which it takes as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import steadyflow as sf
from steadyflow.atom import ProvidesSpec
from steadyflow.engine._persist import FactorySpec

__all__ = ["FactorySpec", "KeptResult", "clear_target", "provided_value", "provides_spec"]


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


def provided_value(result: Any, key: Any) -> Any:
    """The value published for one provided name, out of an atom's result."""
    return ProvidesSpec.extract(result, key)


def clear_target(graph: sf.Graph) -> None:
    """Make ``graph`` run all its items again after ``Graph.target``."""
    graph._target = None
    graph._changed()

"""Engines: compile a flow, run it, revert it on failure."""

from typing import TYPE_CHECKING, Any

from steadyflow.engine._clock import Clock
from steadyflow.engine._plan import Plan
from steadyflow.engine._revoke import Revocation
from steadyflow.engine._storage import Storage
from steadyflow.engine.engine import ENGINE_KINDS, Engine, Statistics

if TYPE_CHECKING:
    from steadyflow.engine.options import EngineKind, EngineOptions, RevokeOutcome, RunOptions

__all__ = [
    "ENGINE_KINDS",
    "Clock",
    "Engine",
    "EngineKind",
    "EngineOptions",
    "Plan",
    "Revocation",
    "RevokeOutcome",
    "RunOptions",
    "Statistics",
    "Storage",
]

_TYPING_NAMES = frozenset({"EngineKind", "EngineOptions", "RevokeOutcome", "RunOptions"})


def __getattr__(name: str) -> Any:
    # The option types matter to type checkers; a run never needs them loaded.
    if name in _TYPING_NAMES:
        from steadyflow.engine import options

        return getattr(options, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

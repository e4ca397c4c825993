"""Engines: compile a flow, run it, revert it on failure."""

from steadyflow.engine._clock import Clock
from steadyflow.engine._plan import Plan
from steadyflow.engine._storage import Storage
from steadyflow.engine.engine import ENGINE_KINDS, Engine, Statistics
from steadyflow.engine.options import EngineKind, EngineOptions, RunOptions

__all__ = [
    "ENGINE_KINDS",
    "Clock",
    "Engine",
    "EngineKind",
    "EngineOptions",
    "Plan",
    "RunOptions",
    "Statistics",
    "Storage",
]

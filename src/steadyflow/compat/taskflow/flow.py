"""TaskFlow's ``taskflow.flow``: the base class of every flow pattern, for ``isinstance`` checks."""

from __future__ import annotations

import steadyflow as sf

__all__ = ["Flow"]

Flow = sf.Flow
"""Every layer flow (linear, unordered, graph) is a steadyflow flow."""

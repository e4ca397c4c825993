"""Flow patterns: linear, unordered and graph."""

from steadyflow.flow.base import Flow
from steadyflow.flow.graph import Decider, Depth, Graph, Link
from steadyflow.flow.linear import Linear
from steadyflow.flow.unordered import Unordered

__all__ = ["Decider", "Depth", "Flow", "Graph", "Linear", "Link", "Unordered"]

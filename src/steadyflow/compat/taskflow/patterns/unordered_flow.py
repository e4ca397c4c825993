"""TaskFlow's unordered flow: its items may run in any order, or at once."""

from __future__ import annotations

from typing import Any

import steadyflow as sf

__all__ = ["Flow"]


class Flow(sf.Unordered):
    """An unordered flow; ``add()`` returns the flow, iterating yields its children."""

    def __init__(self, name: str, retry: Any = None) -> None:
        super().__init__(name, retry=retry)

    def __str__(self) -> str:
        return f'"unordered_flow.Flow: {self.name}(len={len(self)})"'

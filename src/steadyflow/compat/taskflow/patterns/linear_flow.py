"""TaskFlow's linear flow: its items run one after the other, in the order added."""

from __future__ import annotations

from typing import Any

import steadyflow as sf

__all__ = ["Flow"]


class Flow(sf.Linear):
    """A linear flow; ``add()`` returns the flow, iterating yields its children."""

    def __init__(self, name: str, retry: Any = None) -> None:
        super().__init__(name, retry=retry)

    def __str__(self) -> str:
        return f'"linear_flow.Flow: {self.name}(len={len(self)})"'

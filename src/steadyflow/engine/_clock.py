"""The engine's time source, a seam tests replace to skip backoff waits."""

from __future__ import annotations

import time

__all__ = ["Clock"]


class Clock:
    """Time as the engine sees it; tests pass a fake one to skip backoff waits."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def sleep_async(self, seconds: float) -> None:
        """Wait without blocking the event loop (a fake clock's ``sleep`` is called as is)."""
        if type(self).sleep is not Clock.sleep:
            self.sleep(seconds)
            return
        import asyncio

        await asyncio.sleep(seconds)

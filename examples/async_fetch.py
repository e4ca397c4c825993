"""Fetch many things at once with asyncio, from inside a running event loop.

``async def`` tasks run as tasks of the running loop (no thread each), so a
map over 200 URLs keeps all 200 requests in flight together; a synchronous
task in the same flow runs on a thread pool and does not block the loop.
The slow mirror exceeds its ``timeout=`` and is cancelled; the retry
controller then tries the next mirror.

Run: python examples/async_fetch.py
"""

from __future__ import annotations

import asyncio

import steadyflow as sf

in_flight = 0
peak = 0


async def fetch(url: str) -> int:
    """Pretend to download ``url``; returns its size."""
    global in_flight, peak
    in_flight += 1
    peak = max(peak, in_flight)
    await asyncio.sleep(0.01)
    in_flight -= 1
    return len(url) * 100


class FetchIndex(sf.Task):
    """Reads the index from a mirror; the first mirror hangs."""

    async def execute(self, mirror: str) -> list[str]:
        if mirror == "slow.example":
            await asyncio.sleep(3600)
        return [f"https://{mirror}/item/{i}" for i in range(200)]


def total_size(sizes: list[int]) -> str:
    """A plain function: it runs on a worker thread, not on the loop."""
    return f"{sum(sizes) / 1000:.1f} kB"


def build() -> sf.Linear:
    return sf.Linear(
        "crawl",
        sf.Linear(
            "index",
            FetchIndex("fetch-index", provides="urls", timeout=0.2),
            retry=sf.retry.ForEach(["slow.example", "fast.example"], provides="mirror"),
        ),
        sf.Map(fetch, over="urls", provides="sizes", name="fetch-all"),
        sf.task(total_size, name="total", provides="total"),
    )


async def main() -> None:
    engine = sf.load(build(), engine="asyncio")
    await engine.run_async()
    history = engine.storage.get_history("index.retry")
    for attempt in history:
        failures = ", ".join(f"{name}: {f.exc_type_name}" for name, f in attempt.failures.items())
        print(f"mirror {attempt.value}: {failures or 'ok'}")
    print(
        "fetched", len(engine.storage.fetch("sizes")), "urls, total", engine.storage.fetch("total")
    )
    print("requests in flight at once:", peak)


if __name__ == "__main__":
    asyncio.run(main())

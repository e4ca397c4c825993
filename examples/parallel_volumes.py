"""Create several volumes at once, attach them all, and undo everything on failure.

The parallel engine runs the independent ``create-*`` tasks at the same time
on a thread pool; ``attach`` waits for all of them because it requires their
outputs. The second run asks for one volume too many: the quota check fails,
so every volume that was created is deleted again.

Run: python examples/parallel_volumes.py
"""

from __future__ import annotations

import threading

import steadyflow as sf
from steadyflow.failure import Failure


class QuotaExceededError(Exception):
    """The project has no room for another volume."""


class Volumes:
    """A pretend storage service; thread-safe because tasks call it concurrently."""

    def __init__(self, quota: int) -> None:
        self.quota = quota
        self.lock = threading.Lock()
        self.existing: set[str] = set()

    def create(self, name: str, size_gb: int) -> str:
        with self.lock:
            if len(self.existing) >= self.quota:
                raise QuotaExceededError(f"quota of {self.quota} volumes reached")
            self.existing.add(name)
        return f"vol-{name}-{size_gb}g"

    def delete(self, name: str) -> None:
        with self.lock:
            self.existing.discard(name)


class CreateVolume(sf.Task):
    def __init__(self, service: Volumes, name: str, size_gb: int) -> None:
        super().__init__(f"create-{name}", provides=f"volume_{name}")
        self.service = service
        self.volume = name
        self.size_gb = size_gb

    def execute(self) -> str:
        return self.service.create(self.volume, self.size_gb)

    def revert(self, *, result: object) -> None:
        if not isinstance(result, Failure):
            self.service.delete(self.volume)


def build(service: Volumes, names: list[str]) -> sf.Linear:
    creates = [CreateVolume(service, name, 10 * (i + 1)) for i, name in enumerate(names)]
    wanted = [f"volume_{name}" for name in names]

    def attach(**volumes: str) -> str:
        return ", ".join(volumes[key] for key in wanted)

    return sf.Linear(
        "volumes",
        sf.Unordered("create-all", *creates),
        sf.task(attach, name="attach", requires=wanted, provides="attached"),
    )


def main() -> None:
    service = Volumes(quota=4)
    results = sf.run(build(service, ["db", "logs", "cache"]), engine="parallel", max_workers=3)
    print("attached:", results["attached"])
    print("volumes now:", sorted(service.existing))

    service = Volumes(quota=4)
    try:
        sf.run(build(service, ["a", "b", "c", "d", "e"]), engine="parallel", max_workers=5)
    except QuotaExceededError as error:
        print("failed:", error)
    print("volumes after the revert:", sorted(service.existing))


if __name__ == "__main__":
    main()

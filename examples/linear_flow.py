"""A linear flow: provision a volume in three steps, each feeding the next.

Run: python examples/linear_flow.py
"""

from __future__ import annotations

import steadyflow as sf


@sf.task(provides="volume_id")
def create_volume(size_gb: int) -> str:
    print(f"creating a {size_gb} GB volume")
    return "vol-1"


@sf.task(provides="device")
def attach_volume(volume_id: str, server: str) -> str:
    print(f"attaching {volume_id} to {server}")
    return "/dev/vdb"


@sf.task(provides="mount_point")
def format_and_mount(device: str) -> str:
    print(f"formatting {device} and mounting it")
    return "/srv/data"


def main() -> None:
    flow = sf.Linear("provision-volume", create_volume, attach_volume, format_and_mount)
    results = sf.run(flow, store={"size_gb": 20, "server": "web-1"})
    for name, value in sorted(results.items()):
        print(f"{name} = {value}")


if __name__ == "__main__":
    main()

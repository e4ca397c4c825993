"""Nested flows that provide the same name: each consumer sees the nearest provider.

The run's store holds a region too. The quota check runs before anything
provides a region, so it sees the store's. Then the outer flow picks a default
region, and a nested flow for the backup picks its own: the primary sees the
default one (a provider wins over the store), the backup the nested one.

Run: python examples/nested_shadowing.py
"""

from __future__ import annotations

import steadyflow as sf


def pick(region: str) -> sf.FunctionTask[[], str]:
    return sf.task(lambda: region, name=f"pick-{region}", provides="region")


@sf.task
def check_quota(region: str) -> None:
    print(f"quota checked in {region}")


@sf.task(provides="primary")
def create_primary(region: str) -> str:
    print(f"primary database in {region}")
    return f"db-{region}"


@sf.task(provides="backup")
def create_backup(region: str, primary: str) -> str:
    print(f"backup of {primary} in {region}")
    return f"backup-{region}"


def main() -> None:
    flow = sf.Linear(
        "database",
        check_quota,
        pick("eu-west"),
        create_primary,
        sf.Linear("backup-site", pick("us-east"), create_backup),
    )
    results = sf.run(flow, store={"region": "ap-south"})
    print(f"primary={results['primary']} backup={results['backup']}")


if __name__ == "__main__":
    main()

"""Nested flows that provide the same name: each consumer sees the nearest provider.

The outer flow picks a default region; a nested flow for the backup picks its
own. Inside the nested flow, consumers see the backup's region; the outer
flow's consumer, which comes before the nested flow, sees the default one.

Run: python examples/nested_shadowing.py
"""

from __future__ import annotations

import steadyflow as sf


def pick(region: str) -> sf.FunctionTask:
    return sf.task(lambda: region, name=f"pick-{region}", provides="region")


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
        pick("eu-west"),
        create_primary,
        sf.Linear("backup-site", pick("us-east"), create_backup),
    )
    results = sf.run(flow)
    print(f"primary={results['primary']} backup={results['backup']}")


if __name__ == "__main__":
    main()

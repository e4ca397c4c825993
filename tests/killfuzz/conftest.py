"""Stores for the kill campaigns, and the tally printed at the end of the session.

Each campaign adds its kills, re-executions (attempts run again after a
kill: allowed, but a measure of lost work) and violations to the tally under
(backend, mode); ``pytest_terminal_summary`` prints the table, so a CI log
shows how many kills a run made even when everything passed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._harness import Campaign, RunnerServer

TARGETS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]

KILLS: Counter[tuple[str, str]] = Counter()
REVERT_KILLS: Counter[tuple[str, str]] = Counter()
RERUNS: Counter[tuple[str, str]] = Counter()
VIOLATIONS: Counter[tuple[str, str]] = Counter()


@pytest.fixture(params=TARGETS)
def fuzz_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each durable kind (one namespace per test)."""
    name = request.param
    if name == "sqlite":
        return f"sqlite:///{tmp_path}/fuzz.db"
    url: str = request.getfixturevalue("postgres_url" if name == "postgresql" else "mysql_url")
    return url


@pytest.fixture(scope="module")
def runner_server() -> Iterator[RunnerServer]:
    """One fork server per module: forking from it is what keeps kills cheap."""
    server = RunnerServer()
    yield server
    server.close()


def tally(backend: str, mode: str, campaign: Campaign, violations: int) -> None:
    """Count a campaign's kills (those during reverts too), re-executions and violations."""
    KILLS[backend, mode] += campaign.kills
    REVERT_KILLS[backend, mode] += campaign.revert_kills
    RERUNS[backend, mode] += campaign.reruns()
    VIOLATIONS[backend, mode] += violations


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not KILLS and not VIOLATIONS:
        return
    terminalreporter.section("kill fuzzing")
    for backend, mode in sorted(set(KILLS) | set(VIOLATIONS)):
        terminalreporter.write_line(
            f"{backend:<11} {mode:<9} kills {KILLS[backend, mode]:>4}"
            f" ({REVERT_KILLS[backend, mode]:>3} during reverts)"
            f"   re-executions {RERUNS[backend, mode]:>4}"
            f"   violations {VIOLATIONS[backend, mode]:>3}"
        )
    terminalreporter.write_line(
        f"{'total':<21} kills {sum(KILLS.values()):>4}"
        f" ({sum(REVERT_KILLS.values()):>3} during reverts)"
        f"   re-executions {sum(RERUNS.values()):>4}"
        f"   violations {sum(VIOLATIONS.values()):>3}"
    )

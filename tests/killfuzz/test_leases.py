"""Kill modes that need leases: a runner paused past its lease, and its sessions cut.

SIGSTOP: a runner is paused at a random moment for longer than its lease; a
second runner takes the flow over and finishes or advances it (and is itself
SIGKILLed half the time); then the first is continued. It must notice it
lost the lease, write nothing, and stop with ``LeaseLostError``. Its steps
may overlap the successor's only as the documented at-least-once case: the
body it was in when paused finishes, and its result must not be recorded.

Sessions: the lease holder's database sessions are terminated under it
(``pg_terminate_backend`` / ``KILL``) at random moments while it runs. It
may reconnect and go on, or stop with ``BackendUnavailableError`` (an
infrastructure error, counted, not a violation; any other error is one);
either way nobody else may run the flow while its lease lives, and the flow
must end as promised.

Both wait for the leases branch: they are skipped until the persistence
``Backend`` grows ``acquire_lease``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import _services
import steadyflow
from steadyflow.persistence import open_backend

from ._harness import RunnerServer, fuzz, session_killer, sigstop_past_lease
from .conftest import tally

pytestmark = [
    pytest.mark.crash,
    pytest.mark.skipif(
        not hasattr(steadyflow.persistence.Backend, "acquire_lease"),
        reason="leases not merged yet",
    ),
]

LEASE_TTL = 0.5
PAUSES = 3  # per shape and backend: each costs about one lease TTL of waiting
PAUSED_SHAPES = ["fanout", "nested_retry", "revert_fails", "map_revert", "asyncio"]
CUT_SHAPES = ["fanout", "nested_retry", "scope", "map_retry"]
CUTS = 4  # session cuts per shape and backend (up to 3 per run)


@pytest.mark.parametrize("shape", PAUSED_SHAPES)
def test_a_runner_paused_past_its_lease_is_fenced_out(
    shape: str, fuzz_url: str, tmp_path: Path, runner_server: RunnerServer
) -> None:
    # Given a flow whose runners hold a short lease
    backend = open_backend(fuzz_url)
    try:
        # When runners are paused past the lease, taken over, then continued
        campaigns = fuzz(
            shape,
            fuzz_url,
            backend,
            runner_server,
            tmp_path,
            sigstop_past_lease,
            PAUSES,
            lease_ttl=LEASE_TTL,
        )
        reports = [(campaign, campaign.violations()) for campaign in campaigns]
    finally:
        backend.close()
    for campaign, found in reports:
        tally(fuzz_url.split(":")[0], "sigstop", campaign, len(found))
    # Then the paused runners wrote nothing after the takeover, nobody overlapped,
    # and every flow ended as promised
    failed = [campaign.describe(found) for campaign, found in reports if found]
    assert not failed, "\n".join(failed)


# -- cutting the lease holder's database sessions ------------------------------------


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def cut_sessions(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, Callable[[], int]]]:
    """A server store's URL for runners, one for the test, and a session cutter.

    The cutter ends every session the runners hold on the test's store (never
    the test's own) and says how many. Only this test's sessions are cut: the
    servers are shared with other tests, so PostgreSQL sessions are singled
    out by an ``application_name`` naming the test's schema (runners only),
    MariaDB ones by database, minus the sockets of this process.
    """
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        yield from _postgres_sessions(url)
    else:
        url = request.getfixturevalue("mysql_url")
        yield from _mysql_sessions(url)


def _postgres_sessions(url: str) -> Iterator[tuple[str, str, Callable[[], int]]]:
    match = re.search(r"search_path%3D(\w+)", url)
    assert match is not None, f"no schema in {url}"
    name = f"kf_{match.group(1)}"
    admin = _services._pg_connect(url)

    def terminate() -> int:
        rows = admin.execute(  # type: ignore[attr-defined]
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
        return sum(1 for (ended,) in rows if ended)

    try:
        yield f"{url}&application_name={name}", url, terminate
    finally:
        admin.close()  # type: ignore[attr-defined]


def _my_client_ports() -> set[int]:
    """Local TCP ports of this process's sockets (Linux /proc), to spare our sessions."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def _mysql_sessions(url: str) -> Iterator[tuple[str, str, Callable[[], int]]]:
    database = unquote(urlsplit(url).path.lstrip("/"))
    admin = _services._mysql_connect(url)

    def terminate() -> int:
        ended = 0
        with admin.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute(
                "SELECT ID, HOST FROM information_schema.processlist"
                " WHERE DB = %s AND ID <> CONNECTION_ID()",
                (database,),
            )
            mine = _my_client_ports()
            for session, host in cursor.fetchall():
                if int(str(host).rpartition(":")[2] or 0) in mine:
                    continue
                try:
                    cursor.execute(f"KILL {int(session)}")
                except Exception as exc:  # it may have ended on its own meanwhile
                    if "Unknown thread id" not in str(exc):
                        raise
                    continue
                ended += 1
        return ended

    try:
        yield url, url, terminate
    finally:
        admin.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("shape", CUT_SHAPES)
def test_cutting_the_lease_holders_sessions_keeps_the_promise(
    shape: str,
    cut_sessions: tuple[str, str, Callable[[], int]],
    tmp_path: Path,
    runner_server: RunnerServer,
) -> None:
    # Given a flow on a server store whose runners hold a short lease
    url, store_url, terminate = cut_sessions
    backend = open_backend(store_url)
    try:
        # When the runner's sessions are terminated under it at random moments
        campaigns = fuzz(
            shape,
            url,
            backend,
            runner_server,
            tmp_path,
            session_killer(terminate),
            CUTS,
            lease_ttl=LEASE_TTL,
            tolerate_unavailable=True,
        )
        reports = [(campaign, campaign.violations()) for campaign in campaigns]
    finally:
        backend.close()
    for campaign, found in reports:
        tally(url.split(":")[0], "sessions", campaign, len(found))
    # Then every flow still ends as promised, with no runner overlapping another
    failed = [campaign.describe(found) for campaign, found in reports if found]
    assert not failed, "\n".join(failed)

"""The board kinds the jobs contract suite runs against.

Each kind is a function taking a scratch directory and returning a context
manager that yields a :class:`BoardSite`: one fresh, isolated board (its own
board name, and its own schema, database, key prefix or file), plus how to
open that same board again as another connection or process would. Leaving
the context closes what it opened and removes the board's data.

A kind whose service is missing skips its tests through tests/_services.py
(or fails them when ``STEADYFLOW_REQUIRE_SERVICES=1``).

To add a board: one entry in :data:`KINDS`, nothing else in this file.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

import _services
from steadyflow.jobs import JobBoard
from steadyflow.jobs.memory import MemoryBoard

from . import _redis_service

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager
    from pathlib import Path


@dataclass
class BoardSite:
    """One isolated board under test.

    Attributes:
        name: the board's name (unique per test).
        url: what ``open_board(url, name=name)`` takes to reach it from another
            process, or None for an in-process board.
        opener: makes a new board object on the same board (for the memory
            board, the one instance: nothing else can see it).
    """

    name: str
    url: str | None
    opener: Callable[[], JobBoard]
    opened: list[JobBoard] = field(default_factory=list)

    def open(self) -> JobBoard:
        board = self.opener()
        self.opened.append(board)
        return board

    def close_all(self) -> None:
        for board in self.opened:
            board.close()


@dataclass(frozen=True)
class BoardKind:
    """How to make a fresh board of one kind, and what the kind promises.

    Attributes:
        make: scratch directory → context manager yielding a :class:`BoardSite`.
        cross_process: other processes can open the board (``BoardSite.url``).
        wake_within: a claimer waiting on the board is woken this many seconds
            after a post at the latest (well under 0.1 s where the service pushes;
            the poll interval plus slack where the board polls).
        marks: pytest marks (the service the kind needs).
        clock_grain: how much later than asked a delay may end where the service's
            only clock has a coarse grain (etcd's leases: whole seconds, swept every
            0.5 s); 0 where expiries are exact.
    """

    make: Callable[[Path], AbstractContextManager[BoardSite]]
    cross_process: bool
    wake_within: float
    marks: tuple[Any, ...] = ()
    clock_grain: float = 0.0


def unique_name(kind: str) -> str:
    return f"test-{kind}-{uuid.uuid4().hex[:10]}"


@contextmanager
def _memory(tmp_path: Path) -> Iterator[BoardSite]:
    board = MemoryBoard(unique_name("memory"))
    site = BoardSite(board.name, None, lambda: board)
    try:
        yield site
    finally:
        site.close_all()
        board.close()


@contextmanager
def _sqlite(tmp_path: Path) -> Iterator[BoardSite]:
    from steadyflow.jobs.sqlite import SQLiteBoard

    path = tmp_path / "jobs.db"
    name = unique_name("sqlite")
    site = BoardSite(name, f"sqlite:///{path}", lambda: SQLiteBoard(path, name=name))
    try:
        yield site
    finally:
        site.close_all()


def _sql(kind: str, namespace: Callable[[], AbstractContextManager[str]]) -> Any:
    @contextmanager
    def make(tmp_path: Path) -> Iterator[BoardSite]:
        from steadyflow.jobs.sql import SQLBoard

        name = unique_name(kind)
        with namespace() as url:
            site = BoardSite(name, url, lambda: SQLBoard(url=url, name=name))
            try:
                yield site
            finally:
                site.close_all()

    return make


@contextmanager
def _zookeeper(tmp_path: Path) -> Iterator[BoardSite]:
    from steadyflow.jobs.zookeeper import ZooKeeperBoard

    from ._coordination import require, zookeeper_url

    require("zookeeper")
    name, url = unique_name("zookeeper"), zookeeper_url()
    site = BoardSite(name, url, lambda: ZooKeeperBoard.from_url(url, name=name))
    try:
        yield site
    finally:
        site.close_all()
        with ZooKeeperBoard.from_url(url, name=name) as cleaner:
            cleaner.destroy()


@contextmanager
def _etcd(tmp_path: Path) -> Iterator[BoardSite]:
    from steadyflow.jobs.etcd import EtcdBoard

    from ._coordination import etcd_url, require

    require("etcd")
    name, url = unique_name("etcd"), etcd_url()
    site = BoardSite(name, url, lambda: EtcdBoard.from_url(url, name=name))
    try:
        yield site
    finally:
        site.close_all()
        with EtcdBoard.from_url(url, name=name) as cleaner:
            cleaner.destroy()


#: kind name → how to make one. One entry per board kind.
KINDS: dict[str, BoardKind] = {
    "memory": BoardKind(_memory, cross_process=False, wake_within=0.1),
    "sqlite": BoardKind(_sqlite, cross_process=True, wake_within=0.5),
    "postgresql": BoardKind(
        _sql("postgresql", _services.postgres_namespace),
        cross_process=True,
        wake_within=0.1,
        marks=(pytest.mark.postgres,),
    ),
    "mariadb": BoardKind(
        _sql("mariadb", _services.mysql_namespace),
        cross_process=True,
        wake_within=0.5,
        marks=(pytest.mark.mysql,),
    ),
    "redis": BoardKind(
        _redis_service.redis_site,
        cross_process=True,
        wake_within=0.1,
        marks=(pytest.mark.redis,),
    ),
    "zookeeper": BoardKind(
        _zookeeper, cross_process=True, wake_within=0.1, marks=(pytest.mark.zookeeper,)
    ),
    "etcd": BoardKind(
        _etcd, cross_process=True, wake_within=0.1, marks=(pytest.mark.etcd,), clock_grain=1.5
    ),
}


def params() -> list[Any]:
    """The kinds as pytest parameters, each with its service marks."""
    return [pytest.param(name, marks=kind.marks, id=name) for name, kind in KINDS.items()]

"""Backends the engine persistence tests run against: one store per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from steadyflow.persistence import Backend, open_backend

TARGETS = [
    "memory",
    "dir",
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]

Opener = Callable[[], Backend]


@pytest.fixture(params=TARGETS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL naming a fresh, empty store of each kind."""
    name = request.param
    if name == "memory":
        return "memory://"
    if name == "dir":
        return f"dir://{tmp_path}/store"
    if name == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    fixture = "postgres_url" if name == "postgresql" else "mysql_url"
    url: str = request.getfixturevalue(fixture)
    return url


DURABLE = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=DURABLE)
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL naming a fresh, empty store that outlives its process: SQLite or a server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    fixture = "postgres_url" if request.param == "postgresql" else "mysql_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def reopen(store_url: str) -> Iterator[Opener]:
    """Opens the test's store again, as a restarted process would (memory: the same object)."""
    opened: list[Backend] = []
    shared = open_backend(store_url) if store_url == "memory://" else None

    def open_store() -> Backend:
        backend = shared if shared is not None else open_backend(store_url)
        opened.append(backend)
        return backend

    yield open_store
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(reopen: Opener) -> Backend:
    """The test's store, opened once."""
    return reopen()

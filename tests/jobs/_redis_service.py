"""The Redis server the Redis board tests use: URL from the environment, probed lazily.

``STEADYFLOW_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) is a
server other test runs share: each test works on a board of its own name
(its keys all start with ``steadyflow:board:{name}:``) and deletes them
afterwards. Nothing touches the network at import time.
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

import _services

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from ._boards import BoardSite

REDIS_URL_ENV = "STEADYFLOW_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL)


@functools.cache
def probe() -> str | None:
    """None when the Redis server answers, else why not (cached per session)."""
    try:
        import redis
    except ImportError as exc:
        return f"redis-py not installed: {exc}"
    client = redis.Redis.from_url(redis_url(), socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        return f"redis not reachable at {redis_url()}: {exc}"
    finally:
        client.close()
    return None


def require() -> None:
    """Skip or fail the current test unless the Redis server answers."""
    reason = probe()
    if reason is not None:
        _services.unavailable(reason)


@contextmanager
def redis_site(tmp_path: Path) -> Iterator[BoardSite]:
    """A fresh Redis board (a unique name) for the contract suite; its keys deleted after."""
    from steadyflow.jobs.redis import RedisBoard

    from ._boards import BoardSite, unique_name

    require()
    url = redis_url()
    name = unique_name("redis")
    site = BoardSite(name, url, lambda: RedisBoard.from_url(url, name=name))
    try:
        yield site
    finally:
        site.close_all()
        with RedisBoard.from_url(url, name=name) as cleaner:
            cleaner.drop()


def unavailable_binary() -> None:
    """Skip or fail: the tests that run a Redis server of their own need ``redis-server``."""
    _services.unavailable("redis-server is not installed (Debian package redis-server)")

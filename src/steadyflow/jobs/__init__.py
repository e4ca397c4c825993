"""Jobs, job boards and claims: work posted once, run by exactly one conductor at a time.

Open a board by URL with :func:`open_board` (or build one directly); post
jobs with :meth:`JobBoard.post`; conductors (:mod:`steadyflow.conductors`)
claim and run them. Importing this package imports no service client: each
backend's module, and its driver, is loaded when a board of that kind is opened.
"""

from __future__ import annotations

import importlib
from typing import Any

from steadyflow.errors import InvalidURLError
from steadyflow.jobs.base import (
    Claim,
    ClaimLostError,
    Job,
    JobBoard,
    JobNotFoundError,
    JobRunningError,
    JobState,
)

__all__ = [
    "Claim",
    "ClaimLostError",
    "Job",
    "JobBoard",
    "JobNotFoundError",
    "JobRunningError",
    "JobState",
    "open_board",
]

#: URL scheme → "module:class" of the board that serves it (imported on first use).
_BOARDS: dict[str, str] = {
    "memory": "steadyflow.jobs.memory:MemoryBoard",
    "sqlite": "steadyflow.jobs.sqlite:SQLiteBoard",
    "postgresql": "steadyflow.jobs.sql:SQLBoard",
    "postgres": "steadyflow.jobs.sql:SQLBoard",
    "mysql": "steadyflow.jobs.sql:SQLBoard",
    "mariadb": "steadyflow.jobs.sql:SQLBoard",
    "redis": "steadyflow.jobs.redis:RedisBoard",
    "rediss": "steadyflow.jobs.redis:RedisBoard",
    "zookeeper": "steadyflow.jobs.zookeeper:ZooKeeperBoard",
    "etcd": "steadyflow.jobs.etcd:EtcdBoard",
}


def open_board(url: str, *, name: str = "default", **options: Any) -> JobBoard:
    """Open the job board named ``name`` on the service ``url`` points at.

    ``memory://`` makes a new in-process board (each call a separate one).

    Raises:
        InvalidURLError: the URL's scheme names no board kind.
        MissingDriverError: the board's client library is not installed (with
            the extra to install).
    """
    if not isinstance(url, str) or "://" not in url:
        raise InvalidURLError(f"a job board URL looks like 'scheme://...', not {url!r}")
    scheme = url.split("://", 1)[0].lower()
    target = _BOARDS.get(scheme.split("+", 1)[0])
    if target is None:
        known = ", ".join(sorted(_BOARDS))
        raise InvalidURLError(f"no job board for URL scheme {scheme!r} (known: {known})")
    module_name, class_name = target.split(":")
    board_class = getattr(importlib.import_module(module_name), class_name)
    if scheme == "memory":
        board: JobBoard = board_class(name, **options)
    else:
        board = board_class.from_url(url, name=name, **options)
    return board

"""Shared pytest fixtures.

Sections are owned by different parts of the code base; add yours in its own
section rather than editing another's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import _services

if TYPE_CHECKING:
    from collections.abc import Iterator

# -- services (persistence) ----------------------------------------------------
# Service URLs come from the environment, are probed lazily (never at import)
# and every test gets its own namespace; see tests/_services.py.


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL backend URL confined to a fresh schema (skips if no server)."""
    with _services.postgres_namespace() as url:
        yield url


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A MariaDB/MySQL backend URL on a fresh database (skips if no server)."""
    with _services.mysql_namespace() as url:
        yield url

"""SQL backends (SQLite, PostgreSQL, MySQL/MariaDB); needs the ``sql`` extra."""

from __future__ import annotations

from steadyflow.persistence.sql.backend import SQLBackend

__all__ = ["SQLBackend"]

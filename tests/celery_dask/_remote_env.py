"""Run on cluster workers by the tests (imported there by name)."""

from __future__ import annotations

import os


def set_env(name: str, value: str) -> None:
    """Set an environment variable of the worker process itself."""
    os.environ[name] = value

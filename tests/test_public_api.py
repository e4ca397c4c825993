"""The public surface: exactly what ``sf.__all__`` promises, and nothing private leaks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import steadyflow as sf

EXPECTED = {
    # declaring
    "Task", "FunctionTask", "task", "Retry", "retry", "Flow", "Linear", "Unordered",
    "Graph", "Depth", "Map", "Reduce",
    # running
    "run", "run_async", "load", "Engine", "Storage", "AtomContext", "current_context",
    # outcomes and states
    "Failure", "AtomState", "FlowState", "EngineState",
    # persisting
    "load_from_backend", "revoke", "persistence",
    # running jobs
    "jobs", "conductors",
    # remote workers
    "workers",
    # observing
    "events", "listeners",
    # errors
    "errors", "SteadyflowError", "FlowRevokedError", "__version__",
}  # fmt: skip


def test_all_lists_exactly_the_public_names() -> None:
    assert set(sf.__all__) == EXPECTED
    assert len(sf.__all__) == len(set(sf.__all__)), "a name is listed twice"


def test_every_public_name_is_importable_and_none_is_private() -> None:
    for name in sf.__all__:
        assert getattr(sf, name) is not None, name
        assert not name.startswith("_") or name == "__version__"


def test_star_import_gives_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from steadyflow import *", namespace)
    assert set(namespace) >= EXPECTED


def test_listeners_and_errors_export_their_names() -> None:
    assert set(sf.listeners.__all__) == {
        "Listener",
        "CapturingListener",
        "LoggingListener",
        "OpenTelemetryListener",
        "PrintingListener",
        "TimingListener",
    }
    for name in sf.errors.__all__:
        error = getattr(sf.errors, name)
        assert issubclass(error, sf.SteadyflowError), name


def test_every_persistence_name_resolves() -> None:
    # Backends other than memory are loaded lazily: each listed name must still resolve.
    for name in sf.persistence.__all__:
        assert getattr(sf.persistence, name) is not None, name


def test_importing_steadyflow_loads_no_driver_nor_heavy_module() -> None:
    code = (
        "import sys, steadyflow\n"
        "heavy = {'sqlalchemy', 'alembic', 'asyncio', 'logging', 'inspect', 'dataclasses',"
        " 'steadyflow.persistence', 'concurrent.futures', 'random'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_opening_a_sqlite_store_loads_neither_sqlalchemy_nor_alembic(tmp_path: Path) -> None:
    # Given a fresh process, when it creates a SQLite store, then opens it again
    # (and an in-memory one): the standard library is all it loads, and not its
    # slow parts either (dataclasses and inspect wait until a record is used)
    code = (
        "import sys, steadyflow\n"
        f"for url in [{f'sqlite:///{tmp_path}/state.db'!r}] * 2 + ['sqlite://']:\n"
        "    steadyflow.persistence.open_backend(url).close()\n"
        "heavy = {'sqlalchemy', 'alembic', 'dataclasses', 'inspect', 'pathlib'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

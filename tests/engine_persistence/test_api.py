"""The persistence entry points are public, and in-memory runs never import them."""

from __future__ import annotations

import subprocess
import sys

import steadyflow as sf


def test_entry_points_are_exported() -> None:
    assert "load_from_backend" in sf.__all__
    assert "persistence" in sf.__all__
    assert sf.persistence.open_backend is not None


def test_importing_steadyflow_leaves_the_persistence_layer_unloaded() -> None:
    code = (
        "import sys, steadyflow as sf\n"
        "sf.run(sf.Linear('f', sf.task(provides='x', name='one')(lambda: 1)))\n"
        "print(sorted(m for m in sys.modules if m.startswith('steadyflow.persistence')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"

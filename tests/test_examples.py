"""Every example runs as a test and prints exactly its golden output.

An example is ``examples/<name>.py``; its expected standard output is
``examples/golden/<name>.txt``. An example without a golden file fails this
suite, so that none silently stops being checked. Regenerate a golden file
only after reading the diff: ``python examples/<name>.py > examples/golden/<name>.txt``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def test_every_example_has_a_golden_output() -> None:
    missing = [p.name for p in SCRIPTS if not (EXAMPLES / "golden" / f"{p.stem}.txt").exists()]
    assert not missing, f"examples without examples/golden/<name>.txt: {missing}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_prints_its_golden_output(script: Path, tmp_path: Path) -> None:
    golden = EXAMPLES / "golden" / f"{script.stem}.txt"
    if not golden.exists():
        pytest.fail(f"{script.name} has no golden output {golden}")
    env = {**os.environ, "PYTHONHASHSEED": "0", "STEADYFLOW_EXAMPLE_TMP": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{script.name} exited {done.returncode}:\n{done.stderr}"
    assert done.stdout == golden.read_text(), f"{script.name} output changed:\n{done.stdout}"

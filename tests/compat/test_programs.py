"""TaskFlow programs print, through the layer, exactly what they print on real TaskFlow 6.5.

Each ``programs/pNN_*.py`` is an ordinary TaskFlow program; ``pNN_*.out`` is
its standard output on real TaskFlow 6.5 (see ``golden.py`` for how to
regenerate them). Here each program runs as a user would try it,
``python -m steadyflow.compat.taskflow program.py``, in a fresh process.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .golden import PROGRAMS, normalise, programs

ALL = programs()


def test_there_are_enough_programs_each_with_a_golden_output() -> None:
    # Given the programs directory
    # Then it holds the 25 programs the issue asks for, at least, each with a golden output
    assert len(ALL) >= 25
    missing = [p.name for p in ALL if not p.with_suffix(".out").exists()]
    assert not missing, f"programs without a golden .out (see golden.py): {missing}"


def _run_through_layer(program: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "steadyflow.compat.taskflow", program.name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=PROGRAMS,
    )


@pytest.fixture(scope="module")
def runs() -> dict[Path, subprocess.CompletedProcess[str]]:
    """Every program run through the layer, three processes at a time (they are independent)."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(ALL, pool.map(_run_through_layer, ALL), strict=True))


@pytest.mark.parametrize("program", ALL, ids=[p.stem for p in ALL])
def test_program_prints_what_it_printed_on_taskflow(
    program: Path, runs: dict[Path, subprocess.CompletedProcess[str]]
) -> None:
    # Given a TaskFlow program and what it printed on TaskFlow 6.5
    golden = program.with_suffix(".out").read_text()
    # When it runs unchanged through the layer
    done = runs[program]
    # Then it succeeds and prints the same lines (uuids, addresses and timings aside)
    assert done.returncode == 0, done.stderr
    assert normalise(done.stdout) == golden

"""Golden outputs of the TaskFlow-style programs, and how they are compared.

Each ``programs/pNN_*.py`` has a ``pNN_*.out`` beside it: what the program
printed on stdout when run on **real TaskFlow 6.5**. To regenerate them::

    python3 -m venv /tmp/tf-venv
    /tmp/tf-venv/bin/pip install 'taskflow==6.5.*' sqlalchemy alembic
    /tmp/tf-venv/bin/python tests/compat/golden.py /tmp/tf-venv/bin/python

Outputs are normalised before comparison (and before being written): uuids,
object addresses, timestamps and timings vary from run to run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

__all__ = ["PROGRAMS", "normalise", "programs"]

PROGRAMS = Path(__file__).parent / "programs"

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")
_SECONDS = re.compile(r"\d+\.\d+ seconds")
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?")


def normalise(text: str) -> str:
    """``text`` with the parts that differ between two identical runs replaced."""
    text = _UUID.sub("<uuid>", text)
    text = _ADDRESS.sub(" at 0x<address>", text)
    text = _ISO_TIME.sub("<time>", text)
    return _SECONDS.sub("<n> seconds", text)


def programs() -> list[Path]:
    """Every program, in name order."""
    return sorted(PROGRAMS.glob("p[0-9]*.py"))


def _regenerate(python: str) -> None:
    for program in programs():
        done = subprocess.run(
            [python, str(program)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=PROGRAMS,
        )
        if done.returncode != 0:
            print(f"{program.name}: exit {done.returncode}\n{done.stderr}", file=sys.stderr)
        program.with_suffix(".out").write_text(normalise(done.stdout))
        print(program.name, len(done.stdout.splitlines()), "lines")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: golden.py PYTHON_WITH_TASKFLOW_6.5")
    _regenerate(sys.argv[1])

"""The peers' virtual environment and facts about the machine, for the report."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "BENCH_DIR",
    "PEERS_VENV",
    "PeersEnv",
    "cpu_model",
    "ensure_peers_venv",
    "git_revision",
    "package_version",
    "python_version",
]

BENCH_DIR = Path(__file__).resolve().parent
PEERS_VENV = BENCH_DIR / ".venv-peers"
REQUIREMENTS = BENCH_DIR / "peers" / "requirements.txt"
_STAMP = PEERS_VENV / ".requirements.sha256"


class PeersEnv:
    """Where the peers' interpreter is, or why there is none."""

    def __init__(self, python: Path | None, problem: str = "") -> None:
        self.python = python
        self.problem = problem


def ensure_peers_venv(log: Callable[[str], None] = print) -> PeersEnv:
    """Create or update ``.venv-peers`` from ``peers/requirements.txt`` when needed.

    The venv is rebuilt only when the requirements file changed (its hash is
    stamped inside the venv), so later runs start at once.
    """
    python = PEERS_VENV / "bin" / "python"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and _STAMP.exists() and _STAMP.read_text().strip() == wanted:
        return PeersEnv(python)
    try:
        if not python.exists():
            log(f"creating {PEERS_VENV} ...")
            subprocess.run(
                [sys.executable, "-m", "venv", str(PEERS_VENV)], check=True, capture_output=True
            )
        log("installing the peers (TaskFlow, DBOS) into it ...")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
        return PeersEnv(None, "could not set up .venv-peers: " + " | ".join(tail))
    _STAMP.write_text(wanted + "\n")
    return PeersEnv(python)


def package_version(python: Path | str, dist: str) -> str:
    """Installed version of distribution ``dist`` in the venv of ``python``."""
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "not installed"


def python_version(python: Path | str) -> str:
    code = "import platform; print(platform.python_version())"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or "unknown"


def cpu_model() -> str:
    """CPU model name and logical core count."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores"


def git_revision() -> str:
    """Short commit of the work tree, with ``+dirty`` when it has uncommitted changes."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=BENCH_DIR.parent, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    rev = git("rev-parse", "--short", "HEAD") or "unknown"
    return rev + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def write_section(name: str, text: str) -> Path:
    """Put ``text`` (a section between ``<!-- name:begin -->`` and ``<!-- name:end -->``)
    in RESULTS.md in place of the section of that name, or at its end.

    The sections written by the side benchmarks (workers, remote engines,
    conductors) live beside ``run.py``'s table, which keeps them when it rewrites it.
    """
    begin, end = section_marks(name)
    path = BENCH_DIR / "RESULTS.md"
    current = path.read_text() if path.exists() else ""
    if begin in current and end in current:
        current = current[: current.index(begin)] + current[current.index(end) + len(end) + 1 :]
    path.write_text(current.rstrip("\n") + "\n\n" + text)
    return path


def section_marks(name: str) -> tuple[str, str]:
    """The comments that open and close RESULTS.md's section ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"

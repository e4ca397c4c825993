"""Worker for the steadyflow side: ``python sf_bench.py WORKLOAD N`` (project venv)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads  # noqa: F401  (registers every workload)
from _harness import main
from _registry import WORKLOADS

if __name__ == "__main__":
    sys.exit(main({name: w.impl for name, w in WORKLOADS.items()}))

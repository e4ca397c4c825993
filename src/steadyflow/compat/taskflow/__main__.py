"""``python -m steadyflow.compat.taskflow script.py [args]``: run a TaskFlow program on steadyflow.

The script runs as ``__main__`` with the layer installed; Python processes it
starts inherit the layer through ``PYTHONPATH`` (see ``_boot/sitecustomize.py``).
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

from steadyflow.compat.taskflow._hook import install

_BOOT = str(Path(__file__).with_name("_boot"))


def main(argv: list[str]) -> None:
    """Install the layer, make children inherit it, and run ``argv[0]`` as ``__main__``."""
    if not argv or argv[0] in ("-h", "--help"):
        sys.exit("usage: python -m steadyflow.compat.taskflow SCRIPT.py [ARGS...]")
    script = argv[0]
    if not Path(script).is_file():
        sys.exit(f"steadyflow.compat.taskflow: no such script: {script}")
    paths = [_BOOT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    install()
    sys.argv = list(argv)
    sys.path[0] = str(Path(script).resolve().parent)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])

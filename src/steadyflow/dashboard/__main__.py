"""``python -m steadyflow.dashboard``: the dashboard without the ``steadyflow`` command."""

from __future__ import annotations

import sys

from steadyflow.dashboard._cli import main

if __name__ == "__main__":
    sys.exit(main())

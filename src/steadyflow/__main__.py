"""``python -m steadyflow``: the ``steadyflow`` command."""

from steadyflow.cli import main

raise SystemExit(main())

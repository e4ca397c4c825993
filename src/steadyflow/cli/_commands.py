"""The modules that add subcommands to ``steadyflow``, and the names reserved for them.

Each module in :data:`PLUGINS` exposes ``register(subparsers)`` (see
:mod:`steadyflow.cli._common` for the contract). A module that is not
installed is skipped; its command names, when reserved here, then answer
"not available in this installation" (exit code 2).
"""

from __future__ import annotations

__all__ = ["PLUGINS", "RESERVED"]

PLUGINS: tuple[str, ...] = (
    "steadyflow.cli._flows",
    "steadyflow.dashboard._cli",
    "steadyflow.workers._cli",
    "steadyflow.jobs._cli",
    "steadyflow.conductors._cli",
)
"""Plugin modules, in the order their commands appear in ``steadyflow --help``."""

RESERVED: dict[str, str] = {
    "jobs": "post, list and manage jobs on a job board",
    "conductor": "run a conductor that claims jobs and runs their flows",
    "worker": "run a worker that executes tasks sent over a message broker",
    "dashboard": "serve the web dashboard",
}
"""Command name -> its help line, for commands other plugins provide."""

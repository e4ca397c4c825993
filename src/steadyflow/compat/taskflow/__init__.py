"""TaskFlow 6.5's API on top of steadyflow: existing TaskFlow programs run unchanged.

After :func:`install`, ``import taskflow`` and every documented ``taskflow.*``
module resolve to the modules of this package (``taskflow.patterns.linear_flow``
is ``steadyflow.compat.taskflow.patterns.linear_flow``), which build
steadyflow flows and run them on steadyflow's engine. To try a program
without editing it::

    python -m steadyflow.compat.taskflow my_program.py [args]

See docs/migrating-from-taskflow.md for what is covered and what differs.
"""

from __future__ import annotations

from steadyflow.compat.taskflow._hook import install, installed, uninstall

__all__ = ["install", "installed", "uninstall"]

"""Installs the TaskFlow layer in Python processes started by a program running under it.

``python -m steadyflow.compat.taskflow`` puts this directory first on
``PYTHONPATH``; Python imports ``sitecustomize`` at start-up, so a child
``python helper.py`` sees the layer too. Any other ``sitecustomize`` on the
path still runs afterwards.
"""

import importlib.util
import os
import sys

try:
    from steadyflow.compat.taskflow import install
except ImportError:  # a child interpreter without steadyflow: leave it alone
    pass
else:
    install()

_here = os.path.dirname(os.path.abspath(__file__))
_rest = [p for p in sys.path if os.path.abspath(p or ".") != _here]
_spec = importlib.machinery.PathFinder.find_spec("sitecustomize", _rest)
if _spec is not None and _spec.loader is not None:
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["sitecustomize"] = _module
    _spec.loader.exec_module(_module)

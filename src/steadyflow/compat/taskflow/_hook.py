"""The import hook: ``taskflow`` and ``taskflow.*`` resolve to this package's modules."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["TaskflowAlreadyImportedError", "install", "installed", "uninstall"]

_PREFIX = "taskflow"
_TARGET = "steadyflow.compat.taskflow"


class TaskflowAlreadyImportedError(RuntimeError):
    """Raised by :func:`install` when the real TaskFlow is already imported in this process."""


class _AliasLoader(importlib.abc.Loader):
    """Loads ``taskflow.x`` as the already-imported ``steadyflow.compat.taskflow.x``."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        # The module ran when it was imported under its own name; running it twice
        # would create a second copy of every class.
        return None


class _TaskflowFinder(importlib.abc.MetaPathFinder):
    """Answers for ``taskflow`` and its submodules, and for nothing else."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _PREFIX and not fullname.startswith(_PREFIX + "."):
            return None
        target_name = _TARGET + fullname[len(_PREFIX) :]
        if importlib.util.find_spec(target_name) is None:
            return None  # not covered: the import fails as it would without TaskFlow
        module = importlib.import_module(target_name)
        is_package = hasattr(module, "__path__")
        spec = importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(target_name), is_package=is_package
        )
        if is_package:
            spec.submodule_search_locations = list(module.__path__)
        return spec


_finder = _TaskflowFinder()


def installed() -> bool:
    """Whether the layer answers ``import taskflow`` in this process."""
    return _finder in sys.meta_path


def install() -> None:
    """Make ``import taskflow...`` resolve to this compatibility layer; idempotent.

    Raises:
        TaskflowAlreadyImportedError: the real ``taskflow`` is already imported:
            its objects cannot be mixed with the layer's.
    """
    if installed():
        return
    real = sys.modules.get(_PREFIX)
    if real is not None and not getattr(real, "__name__", "").startswith(_TARGET):
        raise TaskflowAlreadyImportedError(
            f"the real taskflow is already imported (from {getattr(real, '__file__', '?')}); "
            f"call steadyflow.compat.taskflow.install() before anything imports taskflow"
        )
    sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    """Undo :func:`install`: forget the layer's ``taskflow`` modules and stop answering."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in [n for n in sys.modules if n == _PREFIX or n.startswith(_PREFIX + ".")]:
        del sys.modules[name]

"""How a persisted flow is rebuilt from the store alone: its factory.

A flow detail saved with ``factory=`` records an importable
``module:function`` and its JSON arguments; :func:`steadyflow.load_from_backend`
(and conductors) call it to get the flow back in another process. Everything
that can go wrong with that is checked when the flow is saved, not found out
during a recovery.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from steadyflow.errors import IncompatibleFlowError

if TYPE_CHECKING:
    from steadyflow.flow.base import Flow

__all__ = ["FactorySpec"]


@dataclass(frozen=True, slots=True)
class FactorySpec:
    """An importable ``module:function`` that builds the flow, with its arguments."""

    target: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        factory: str | Callable[..., Flow] | FactorySpec,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> FactorySpec:
        """Describe ``factory`` (a ``"module:function"`` string or an importable function).

        Checked now, when the flow is saved, rather than discovered when a
        recovery in another process cannot rebuild the flow. A FactorySpec is
        taken as it is (the TaskFlow layer records a script's own factory,
        which TaskFlow allows).

        Raises:
            TypeError: ``factory`` is neither, or the function cannot be imported
                by its name (a lambda, a local function, one in ``__main__``).
            ValueError: the string is not of the form ``module:function``, names
                ``__main__``, or cannot be imported.
        """
        if isinstance(factory, FactorySpec):
            return factory
        if callable(factory) and not isinstance(factory, str):
            module = getattr(factory, "__module__", None)
            qualname = getattr(factory, "__qualname__", "")
            target = f"{module}:{qualname}"
            if module == "__main__":
                raise TypeError(
                    f"factory {factory!r} lives in __main__, which another process "
                    f"(a recovery, a conductor) imports as a different module; move it "
                    f"to an importable module or pass 'package.module:function'"
                )
            if not module or "<" in qualname or _import(target, check_only=True) is not factory:
                raise TypeError(
                    f"factory {factory!r} cannot be imported by name ({target}); "
                    "use a module-level function"
                )
            return cls(target, tuple(args), dict(kwargs or {}))
        if not isinstance(factory, str):
            raise TypeError(f"factory must be 'module:function' or a function, not {factory!r}")
        module, sep, name = factory.partition(":")
        if not sep or not module or not name:
            raise ValueError(f"factory {factory!r} must look like 'package.module:function'")
        if module == "__main__":
            raise ValueError(
                f"factory {factory!r} names __main__, which another process imports as a "
                f"different module; name the module the function is defined in"
            )
        if not callable(_import(factory, check_only=True)):
            raise ValueError(
                f"factory {factory!r} cannot be imported here (no module {module!r} on "
                f"sys.path, or no callable {name!r} in it); a recovery could not rebuild "
                f"the flow"
            )
        return cls(factory, tuple(args), dict(kwargs or {}))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form kept in the flow detail's meta."""
        return {"target": self.target, "args": list(self.args), "kwargs": dict(self.kwargs)}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], flow_id: str) -> FactorySpec:
        """The factory a flow detail was saved with.

        Raises:
            IncompatibleFlowError: the flow detail has no (readable) factory.
        """
        data = meta.get("factory")
        if not isinstance(data, Mapping) or not isinstance(data.get("target"), str):
            raise IncompatibleFlowError(
                f"flow detail {flow_id} was saved without a factory, so it cannot be "
                "rebuilt from the store alone; resume it with sf.load(flow, backend=..., "
                f"flow_id={flow_id!r}), or save flows with sf.load(..., factory='module:function')"
            )
        return cls(data["target"], tuple(data.get("args", ())), dict(data.get("kwargs", {})))

    def build(self) -> Flow:
        """Import the factory and call it.

        Raises:
            IncompatibleFlowError: it cannot be imported, or does not return a flow.
        """
        from steadyflow.flow.base import Flow

        function = _import(self.target, check_only=False)
        flow = function(*self.args, **dict(self.kwargs))
        if not isinstance(flow, Flow):
            raise IncompatibleFlowError(
                f"factory {self.target} returned {flow!r:.80}, not a steadyflow flow"
            )
        return flow


def _import(target: str, *, check_only: bool) -> Any:
    module_name, _, attribute = target.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        if check_only:
            return None
        raise IncompatibleFlowError(f"cannot import flow factory {target}: {exc}") from exc
    if not check_only and not callable(value):
        raise IncompatibleFlowError(f"flow factory {target} is not callable")
    return value

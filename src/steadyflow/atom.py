"""What tasks and retry controllers share: a name, inputs and outputs.

An atom's inputs are the parameters of the method that does its work,
inferred once when the atom is built, so a flow can be validated before
anything runs. ``rebind`` renames inputs, ``inject`` pins them, ``provides``
names the output. All of it is resolved here into two small records the
compiler and engine read without further reflection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from typing import Any, NamedTuple, TypeAlias

from steadyflow.errors import InvalidAtomError, InvalidResultError

__all__ = ["Atom", "ProvidesSpec", "Provides", "Rebind"]

Provides: TypeAlias = str | Sequence[str] | Mapping[str, Any] | None
"""A name (the whole result), names (the result unpacked by position), or name -> key."""

Rebind: TypeAlias = Sequence[str] | Mapping[str, str] | None
"""New symbol names for parameters, by position or by parameter name."""


class _ResultShape(Enum):
    NOTHING = "nothing"
    WHOLE = "whole"
    POSITIONAL = "positional"
    KEYED = "keyed"


WHOLE = object()
"""The key meaning "the result itself" in :attr:`ProvidesSpec.keys`."""


class ProvidesSpec(NamedTuple):
    """How an atom's result maps onto the names it provides."""

    shape: _ResultShape
    names: tuple[str, ...]
    keys: tuple[Any, ...]

    @classmethod
    def parse(cls, provides: Provides, owner: str) -> ProvidesSpec:
        if provides is None:
            return cls(_ResultShape.NOTHING, (), ())
        if isinstance(provides, str):
            return cls(_ResultShape.WHOLE, (provides,), (WHOLE,))
        if isinstance(provides, Mapping):
            names = tuple(provides)
            _check_names(names, owner, "provides")
            return cls(_ResultShape.KEYED, names, tuple(provides.values()))
        if isinstance(provides, Sequence):
            names = tuple(provides)
            _check_names(names, owner, "provides")
            return cls(_ResultShape.POSITIONAL, names, tuple(range(len(names))))
        raise InvalidAtomError(
            f"{owner}: provides must be a name, a sequence of names or a dict of "
            f"name -> key, not {type(provides).__name__}"
        )

    def check(self, result: Any, owner: str) -> None:
        """Raise InvalidResultError unless ``result`` fits this spec."""
        shape = self.shape
        if shape is _ResultShape.WHOLE or shape is _ResultShape.NOTHING:
            # Without provides the result is still kept (for the atom's own
            # revert and its history); it is only not published to others.
            return
        if shape is _ResultShape.POSITIONAL:
            if isinstance(result, str | bytes) or not isinstance(result, Sequence):
                raise InvalidResultError(
                    f"task {owner!r} provides {list(self.names)} and must return a sequence "
                    f"of {len(self.names)} values, not {_short(result)}"
                )
            if len(result) != len(self.names):
                raise InvalidResultError(
                    f"task {owner!r} provides {len(self.names)} values {list(self.names)} "
                    f"but returned {len(result)}"
                )
            return
        try:
            for key in self.keys:
                result[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise InvalidResultError(
                f"task {owner!r} provides {dict(zip(self.names, self.keys, strict=True))} "
                f"but its result {_short(result)} has no key {exc.args[0]!r}"
            ) from None

    @staticmethod
    def extract(result: Any, key: Any) -> Any:
        """The value for one provided name out of a result that passed :meth:`check`."""
        return result if key is WHOLE else result[key]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_names(names: Iterable[Any], owner: str, what: str) -> None:
    for name in names:
        if not isinstance(name, str) or not name:
            raise InvalidAtomError(f"{owner}: {what} names must be non-empty strings: {name!r}")


_FunctionType = type(_check_names)
_CO_VARKEYWORDS = 0x08
_CO_COROUTINE = 0x80
_SIGNATURE_CACHE_SIZE = 4096
_METHOD_SIGNATURES: dict[tuple[Any, frozenset[str]], Signature] = {}


def is_coroutine_function(fn: Any) -> bool:
    """``inspect.iscoroutinefunction``, answered from the code flags for plain functions."""
    function = getattr(fn, "__func__", fn)
    if type(function) is _FunctionType:
        return bool(function.__code__.co_flags & _CO_COROUTINE)
    import inspect

    return inspect.iscoroutinefunction(fn)


class Signature(NamedTuple):
    """The parameters of an atom's work method, as the engine passes them."""

    args: tuple[str, ...]
    """Parameter names in declaration order (required and optional)."""
    optional: frozenset[str]
    accepts_any: bool
    """Whether the method takes ``**kwargs``."""

    @classmethod
    def of(cls, method: Callable[..., Any], owner: str, skip: Iterable[str] = ()) -> Signature:
        """The signature of ``method``; a method's is cached, as many atoms share a class."""
        function = getattr(method, "__func__", method)
        bound = function is not method
        skipped = frozenset(skip)
        key = (function, skipped)
        if bound:
            cached = _METHOD_SIGNATURES.get(key)
            if cached is not None:
                return cached
        if type(function) is _FunctionType and not hasattr(function, "__wrapped__"):
            made = cls._from_code(function, bound, skipped, owner)
        else:  # partials, callable objects, decorated functions: ask inspect
            made = cls._inspected(method, skipped, owner)
        if bound and len(_METHOD_SIGNATURES) < _SIGNATURE_CACHE_SIZE:
            _METHOD_SIGNATURES[key] = made
        return made

    @classmethod
    def _from_code(
        cls, function: Any, bound: bool, skipped: frozenset[str], owner: str
    ) -> Signature:
        """Read a plain function's parameters off its code object (inspect is slow to import)."""
        code = function.__code__
        positional = code.co_argcount
        names = code.co_varnames[: positional + code.co_kwonlyargcount]
        posonly = code.co_posonlyargcount
        first = 1 if bound else 0
        if posonly > first:
            raise InvalidAtomError(
                f"{owner}: parameter {names[first]!r} is positional-only; atoms receive "
                f"their inputs by name"
            )
        defaults = function.__defaults__ or ()
        optional = set(names[positional - len(defaults) : positional])
        optional.update(function.__kwdefaults__ or ())
        args = tuple(name for name in names[first:] if name not in skipped)
        return cls(
            args,
            frozenset(optional.intersection(args)),
            bool(code.co_flags & _CO_VARKEYWORDS),
        )

    @classmethod
    def _inspected(
        cls, method: Callable[..., Any], skipped: frozenset[str], owner: str
    ) -> Signature:
        import inspect

        args: list[str] = []
        optional: set[str] = set()
        accepts_any = False
        for param in inspect.signature(method).parameters.values():
            if param.kind is param.VAR_KEYWORD:
                accepts_any = True
                continue
            if param.kind is param.VAR_POSITIONAL or param.name in skipped:
                continue
            if param.kind is param.POSITIONAL_ONLY:
                raise InvalidAtomError(
                    f"{owner}: parameter {param.name!r} is positional-only; atoms receive "
                    f"their inputs by name"
                )
            args.append(param.name)
            if param.default is not param.empty:
                optional.add(param.name)
        return cls(tuple(args), frozenset(optional), accepts_any)

    def filter_for(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The subset of ``kwargs`` this method accepts."""
        if self.accepts_any:
            return dict(kwargs)
        return {name: kwargs[name] for name in self.args if name in kwargs}


class Atom:
    """The common part of :class:`~steadyflow.Task` and :class:`~steadyflow.Retry`.

    Subclasses call :meth:`_bind` once with their work method; afterwards
    :attr:`arg_symbols` maps each parameter to the symbol that feeds it and
    :attr:`provides_spec` says how the result maps onto provided names.
    """

    name: str
    version: str
    provides_spec: ProvidesSpec
    arg_symbols: dict[str, str]
    optional_args: frozenset[str]
    inject: dict[str, Any]

    def _bind(
        self,
        method: Callable[..., Any],
        *,
        name: str,
        provides: Provides,
        requires: Iterable[str] | None,
        rebind: Rebind,
        inject: Mapping[str, Any] | None,
        version: str,
        skip: Iterable[str] = (),
    ) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidAtomError(f"an atom's name must be a non-empty string, not {name!r}")
        self.name = name
        self.version = str(version)
        self.provides_spec = ProvidesSpec.parse(provides, name)
        if isinstance(requires, str):
            requires = (requires,)  # one name, as for provides (not one per character)
        if inject is not None and not isinstance(inject, Mapping):
            raise InvalidAtomError(
                f"{name}: inject must be a mapping of parameter names to values, "
                f"not {type(inject).__name__} {_short(inject)}"
            )
        signature = Signature.of(method, name, skip)
        arg_symbols = {arg: arg for arg in signature.args}
        optional = set(signature.optional)
        for extra in requires or ():
            if extra not in arg_symbols and not signature.accepts_any:
                raise InvalidAtomError(
                    f"{name}: requires={extra!r} names no parameter of its method and the "
                    f"method takes no **kwargs"
                )
            arg_symbols[extra] = extra
            optional.discard(extra)
        self._apply_rebind(arg_symbols, rebind, signature.accepts_any)
        self.arg_symbols = arg_symbols
        self.optional_args = frozenset(optional)
        self.inject = dict(inject or {})
        unknown = [key for key in self.inject if key not in arg_symbols]
        if unknown and not signature.accepts_any:
            raise InvalidAtomError(f"{name}: inject names unknown parameters {unknown}")
        arg_symbols.update((key, key) for key in unknown)

    def _apply_rebind(self, arg_symbols: dict[str, str], rebind: Rebind, accepts_any: bool) -> None:
        if rebind is None:
            return
        if isinstance(rebind, Mapping):
            pairs = list(rebind.items())
        elif isinstance(rebind, Sequence) and not isinstance(rebind, str):
            order = list(arg_symbols)
            if len(rebind) > len(order) and not accepts_any:
                raise InvalidAtomError(
                    f"{self.name}: rebind lists {len(rebind)} names but the method takes "
                    f"{len(order)} parameters {order}"
                )
            pairs = [
                (order[i] if i < len(order) else symbol, symbol) for i, symbol in enumerate(rebind)
            ]
        else:
            raise InvalidAtomError(f"{self.name}: rebind must be a list or a dict, not {rebind!r}")
        for arg, symbol in pairs:
            _check_names((arg, symbol), self.name, "rebind")
            if arg not in arg_symbols and not accepts_any:
                raise InvalidAtomError(
                    f"{self.name}: rebind names unknown parameter {arg!r}; parameters are "
                    f"{list(arg_symbols)}"
                )
            arg_symbols[arg] = symbol

    # -- what the compiler reads ------------------------------------------------

    @property
    def provides(self) -> tuple[str, ...]:
        """The names this atom's result is published under."""
        return self.provides_spec.names

    @property
    def requires(self) -> frozenset[str]:
        """The symbols this atom cannot run without (inject counts as satisfied)."""
        return frozenset(
            symbol
            for arg, symbol in self.arg_symbols.items()
            if arg not in self.optional_args and arg not in self.inject
        )

    @property
    def optional(self) -> frozenset[str]:
        """The symbols this atom uses when available and defaults otherwise."""
        return frozenset(
            symbol
            for arg, symbol in self.arg_symbols.items()
            if arg in self.optional_args and arg not in self.inject
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

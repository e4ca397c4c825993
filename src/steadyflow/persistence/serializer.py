"""How values (results, meta, retry history) become text and back.

The serializer is a seam, not a policy: the default is strict JSON because a
store is often read by other processes, other versions of the code and other
languages, and because unpickling a store someone else can write is remote
code execution. Plug in your own :class:`Serializer` to widen what can be
stored; there is deliberately no pickle-based one.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from steadyflow.errors import CorruptRecordError, ResultSerializationError

__all__ = ["JSONSerializer", "Serializer"]


@runtime_checkable
class Serializer(Protocol):
    """Turns JSON-like values into text and back.

    Contract: ``loads(dumps(value)) == value`` for every value ``dumps``
    accepts. ``dumps`` raises :class:`~steadyflow.errors.ResultSerializationError`
    for a value it cannot represent; ``loads`` raises
    :class:`~steadyflow.errors.CorruptRecordError` for text it cannot read.
    """

    def dumps(self, obj: Any) -> str:
        """Return ``obj`` as text."""
        ...

    def loads(self, text: str) -> Any:
        """Return the value ``text`` was made from."""
        ...


class JSONSerializer:
    """Compact, strict JSON: the default serializer.

    Output is deterministic for a given value (no whitespace, keys in the
    value's own order, which is kept so a result dict reads back in the order
    the task built it). ``NaN`` and infinities are refused because they are
    not JSON and other readers choke on them. Tuples read back as lists, and
    int, float, bool and None dict keys as strings (JSON's own rules; checking
    every key would cost a walk of every value on the hot path).
    """

    __slots__ = ("_decoder", "_encoder")

    def __init__(self) -> None:
        self._encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        self._decoder = json.JSONDecoder()

    def dumps(self, obj: Any) -> str:
        """Return ``obj`` as compact JSON.

        Raises:
            ResultSerializationError: ``obj`` holds something JSON cannot
                represent (a set, an object, NaN, a non-string dict key...).
        """
        try:
            return self._encoder.encode(obj)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ResultSerializationError(
                f"value is not JSON-serializable ({exc}); return plain JSON types "
                "(dict with str keys, list, str, int, float, bool, None) "
                "or configure another Serializer"
            ) from exc

    def loads(self, text: str) -> Any:
        """Parse JSON text.

        Raises:
            CorruptRecordError: ``text`` is not valid JSON.
        """
        try:
            return self._decoder.decode(text)
        except (TypeError, ValueError) as exc:
            raise CorruptRecordError(f"invalid JSON ({exc})") from exc

    def __repr__(self) -> str:
        return "JSONSerializer()"

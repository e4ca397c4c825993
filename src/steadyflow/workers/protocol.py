"""The messages between the ``workers`` engine and its workers: versioned, checked JSON.

Every message is one JSON object with ``"v"`` (the protocol version, 1) and
``"type"``; its other fields are listed in :data:`SCHEMAS` and checked on both
sides before anything acts on it. Nothing is ever unpickled: a value that is
not JSON (plus :class:`~steadyflow.Failure`, carried as ``{"$failure": ...}``)
cannot be sent, and a message larger than the size limit is refused.

The types:

- ``request`` (engine -> worker queue): run ``action`` (``execute`` or
  ``revert``) of the task ``task``/``version`` with ``kwargs``; carries the
  flow id, atom, element, attempt, idempotency key, lease epoch, deadline and
  the queue to reply to.
- ``started`` (worker -> engine): the worker took the request and acked it;
  it heartbeats every ``heartbeat`` seconds from now on.
- ``heartbeat`` (worker -> engine): the requests in ``ids`` still run.
- ``progress`` (worker -> engine): the task reported ``fraction``.
- ``result`` (worker -> engine): ``ok`` and ``value``, or the ``failure``.
- ``announce`` (worker -> every engine of the topic): a worker is ``up``
  (with its capacity and tasks) or going ``down``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from steadyflow.errors import MessageError
from steadyflow.failure import Failure

__all__ = [
    "MAX_MESSAGE_BYTES",
    "SCHEMAS",
    "VERSION",
    "decode",
    "encode",
]

VERSION: Final = 1
"""The protocol version this code speaks."""

MAX_MESSAGE_BYTES: Final = 1 << 20
"""The default size limit of one message (1 MiB), on both sides."""

_FAILURE_KEY = "$failure"

_Check = Callable[[Any], bool]


def _str(value: Any) -> bool:
    return isinstance(value, str)


def _opt_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _opt_int(value: Any) -> bool:
    return value is None or _int(value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _opt_number(value: Any) -> bool:
    return value is None or _number(value)


def _positive(value: Any) -> bool:
    return _number(value) and value > 0


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


def _dict(value: Any) -> bool:
    return isinstance(value, dict)


def _opt_dict(value: Any) -> bool:
    return value is None or isinstance(value, dict)


def _any(value: Any) -> bool:
    return True


def _action(value: Any) -> bool:
    return value in ("execute", "revert")


def _fraction(value: Any) -> bool:
    return _number(value) and 0.0 <= value <= 1.0


def _ids(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _tasks(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, list) and len(item) == 2 and all(isinstance(s, str) for s in item)
        for item in value
    )


def _announce_state(value: Any) -> bool:
    return value in ("up", "down")


SCHEMAS: Final[Mapping[str, Mapping[str, _Check]]] = {
    "request": {
        "id": _str,
        "task": _str,
        "version": _str,
        "action": _action,
        "flow_id": _str,
        "atom": _str,
        "element": _int,
        "attempt": _int,
        "key": _str,
        "epoch": _opt_int,
        "deadline": _opt_number,
        "reply_to": _str,
        "kwargs": _dict,
    },
    "started": {"id": _str, "worker": _str, "heartbeat": _positive},
    "heartbeat": {"worker": _str, "ids": _ids, "heartbeat": _positive},
    "progress": {"id": _str, "fraction": _fraction},
    "result": {
        "id": _str,
        "worker": _str,
        "key": _str,
        "epoch": _opt_int,
        "ok": _bool,
        "value": _any,
        "failure": _opt_dict,
    },
    "announce": {
        "worker": _str,
        "state": _announce_state,
        "topic": _str,
        "capacity": _int,
        "heartbeat": _positive,
        "tasks": _tasks,
    },
}
"""Message type -> field -> check. Every field is required; others are refused."""


def _default(value: Any) -> Any:
    if isinstance(value, Failure):
        return {_FAILURE_KEY: value.to_dict()}
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _object_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _FAILURE_KEY in obj:
        return Failure.from_dict(obj[_FAILURE_KEY])
    return obj


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_default
)


def check(message: Any) -> dict[str, Any]:
    """Return ``message`` if it is a valid message of this version.

    Raises:
        MessageError: naming the first problem found.
    """
    if not isinstance(message, dict):
        raise MessageError(f"a message is a JSON object, not {type(message).__name__}")
    version = message.get("v")
    if version != VERSION:
        raise MessageError(f"unknown protocol version {version!r} (this code speaks {VERSION})")
    kind = message.get("type")
    schema = SCHEMAS.get(kind) if isinstance(kind, str) else None
    if schema is None:
        raise MessageError(f"unknown message type {kind!r}; known: {sorted(SCHEMAS)}")
    for field, valid in schema.items():
        if field not in message:
            raise MessageError(f"{kind} message lacks {field!r}")
        if not valid(message[field]):
            raise MessageError(f"{kind} message has an invalid {field!r}: {message[field]!r:.100}")
    extra = set(message) - set(schema) - {"v", "type"}
    if extra:
        raise MessageError(f"{kind} message has unknown fields {sorted(extra)}")
    return message


def encode(kind: str, limit: int = MAX_MESSAGE_BYTES, **fields: Any) -> bytes:
    """A checked message of type ``kind`` as UTF-8 JSON.

    Raises:
        MessageError: a field is invalid, a value is not JSON, or the message
            is larger than ``limit`` bytes.
    """
    message = check({"v": VERSION, "type": kind, **fields})
    try:
        body = _ENCODER.encode(message).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise MessageError(
            f"{kind} message cannot be sent: {exc}; inputs and results of remote tasks must "
            f"be plain JSON values (dict with str keys, list, str, int, float, bool, None)"
        ) from exc
    if len(body) > limit:
        raise MessageError(f"{kind} message is {len(body)} bytes, over the limit of {limit}")
    return body


def decode(body: bytes | str, limit: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Parse and check one received message.

    Raises:
        MessageError: oversized, not JSON, or not a valid message.
    """
    if len(body) > limit:
        raise MessageError(f"message is {len(body)} bytes, over the limit of {limit}")
    try:
        message = json.loads(body, object_hook=_object_hook)
    except (ValueError, TypeError, RecursionError) as exc:
        raise MessageError(f"message is not JSON ({exc})") from exc
    except Exception as exc:  # a malformed $failure record (CorruptRecordError)
        raise MessageError(f"message holds an invalid failure record ({exc})") from exc
    return check(message)


def failure_of(message: Mapping[str, Any]) -> Failure:
    """The :class:`Failure` a ``result`` message with ``ok`` false carries.

    Raises:
        MessageError: the failure record is missing or invalid.
    """
    data = message.get("failure")
    if data is None:
        raise MessageError("a failed result carries no failure record")
    try:
        return Failure.from_dict(data)
    except Exception as exc:
        raise MessageError(f"invalid failure record ({exc})") from exc

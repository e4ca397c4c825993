"""TaskFlow's ``Listener`` base: registers receivers on an engine's flow and atom notifiers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Self

from steadyflow.compat.taskflow.types.notifier import Notifier

__all__ = ["DEFAULT_LISTEN_FOR", "Listener"]

DEFAULT_LISTEN_FOR = (Notifier.ANY,)
"""Listen for every state unless told otherwise."""


def _has(key: str) -> Callable[[Mapping[str, Any]], bool]:
    def has_key(details: Mapping[str, Any]) -> bool:
        return key in details

    return has_key


_IS_TASK = _has("task_name")
_IS_RETRY = _has("retry_name")


class Listener:
    """Base of listeners: override ``_flow_receiver``, ``_task_receiver``, ``_retry_receiver``.

    Each receiver is called as ``receiver(state, details)`` for the states it
    listens for. Use the listener as a context manager around ``engine.run()``.
    """

    def __init__(
        self,
        engine: Any,
        task_listen_for: Iterable[str] = DEFAULT_LISTEN_FOR,
        flow_listen_for: Iterable[str] = DEFAULT_LISTEN_FOR,
        retry_listen_for: Iterable[str] = DEFAULT_LISTEN_FOR,
    ) -> None:
        self._engine = engine
        self._listen_for = {
            "task": tuple(task_listen_for),
            "flow": tuple(flow_listen_for),
            "retry": tuple(retry_listen_for),
        }
        self._registered: list[tuple[Notifier, str, Callable[..., Any], Any]] = []

    def _flow_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        """Called on a flow state change."""

    def _task_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        """Called on a task state change."""

    def _retry_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        """Called on a retry controller's state change."""

    def register(self) -> None:
        """Start receiving the engine's notifications."""
        engine = self._engine
        wanted = [
            (engine.notifier, "flow", self._flow_receiver, None),
            (engine.atom_notifier, "task", self._task_receiver, _IS_TASK),
            (engine.atom_notifier, "retry", self._retry_receiver, _IS_RETRY),
        ]
        for notifier, kind, receiver, details_filter in wanted:
            for state in self._listen_for[kind]:
                notifier.register(state, receiver, details_filter=details_filter)
                self._registered.append((notifier, state, receiver, details_filter))

    def deregister(self) -> None:
        """Stop receiving notifications."""
        for notifier, state, receiver, details_filter in self._registered:
            notifier.deregister(state, receiver, details_filter=details_filter)
        self._registered.clear()

    def __enter__(self) -> Self:
        self.register()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.deregister()


class DumpingListener(Listener):
    """A listener writing one line per transition through :meth:`_dump`."""

    def _dump(self, message: str, *args: Any, **kwargs: Any) -> None:
        # TaskFlow's abstract hook: its subclasses (printing, logging) write the line.
        raise NotImplementedError

    def _flow_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        self._dump(
            "%s has moved flow '%s' (%s) into state '%s' from state '%s'",
            self._engine,
            details["flow_name"],
            details["flow_uuid"],
            state,
            details["old_state"],
        )

    # Retry controllers' transitions are not dumped: TaskFlow's dumping listeners show
    # flows and tasks only.
    def _task_receiver(self, state: str, details: Mapping[str, Any]) -> None:
        self._atom_dump("task", state, details)

    def _atom_dump(self, kind: str, state: str, details: Mapping[str, Any]) -> None:
        from steadyflow.compat.taskflow.types.failure import Failure

        args = [self._engine, kind, details[f"{kind}_name"], details[f"{kind}_uuid"], state]
        args.append(details["old_state"])
        message = "%s has moved %s '%s' (%s) into state '%s' from state '%s'"
        if "result" not in details:
            self._dump(message, *args)
            return
        result = details["result"]
        failed = isinstance(result, Failure)
        message += " with result '%s' (failure=%s)"
        if failed:
            self._dump(message, *args, result, True, exc_info=result.exc_info)
        else:
            self._dump(message, *args, result, False)

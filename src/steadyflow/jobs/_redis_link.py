"""How the Redis board talks to its server: scripts on cheap pooled connections, and wake-ups.

redis-py's general-purpose path (connection pool, retry wrapper, per-call
health check) costs more than the round trip itself for the board's small
scripts. :class:`ScriptRunner` keeps its own LIFO stack of connections made
from the client's settings (``collections.deque`` pops and appends are atomic,
so threads share it without a lock) and checks a connection for a dead peer
only after it sat idle, which is when a server restart can have broken it.
Its connections always decode replies to ``str`` (with the client's encoding),
whatever the client's ``decode_responses``: the board reads every reply as
text, and hiredis decodes in C for less than a decode per field in Python.
Commands are packed by hiredis directly when redis-py would use it (redis-py's
packer walks every argument in Python before handing them to hiredis); they
are sent and read through the connection's own methods, so its error
handling is redis-py's.

:class:`Wakeup` runs the pub/sub listener that wakes waiting claimers.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
import redis.exceptions
import redis.utils

from steadyflow.errors import BackendUnavailableError

try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - redis-py's own packer serves then
    _HIREDIS: Callable[..., bytes] | None = None
else:
    # Only where redis-py would pack with hiredis too (it refuses hiredis versions
    # it does not support): the bytes sent are then the same.
    _HIREDIS = _hiredis_pack if redis.utils.HIREDIS_AVAILABLE else None

__all__ = ["ScriptRunner", "Wakeup"]

#: redis-py's connection classes are only partly annotated: treated as untyped here.
_Connection = Any

#: A connection idle longer than this is checked for a closed peer before use.
_IDLE_CHECK_S = 0.05
#: How long the wake-up listener blocks on its socket before checking it should stop.
_LISTEN_SLICE_S = 0.2
_RECONNECT_PAUSE_S = 0.2
_SUBSCRIBE_WAIT_S = 2.0

_CONNECTION_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class ScriptRunner:
    """Runs the board's Lua scripts by SHA, loading one the server lost (restart, flush).

    Args:
        client: the board's client; its connection settings are reused.
        scripts: script name → Lua source.
        unavailable: builds the error raised when the server cannot be reached.
    """

    def __init__(
        self,
        client: redis.Redis,
        scripts: dict[str, str],
        unavailable: Callable[[BaseException], BackendUnavailableError],
    ) -> None:
        self._pool = client.connection_pool
        self._connection_kwargs = {**self._pool.connection_kwargs, "decode_responses": True}
        # A packer of the caller's own is respected: redis-py's send_command uses it then.
        self._pack = None if "command_packer" in self._connection_kwargs else _HIREDIS
        self._sources = scripts
        self._shas = {name: client.register_script(text).sha for name, text in scripts.items()}
        self._unavailable = unavailable
        self._idle: collections.deque[tuple[_Connection, float]] = collections.deque()
        self._all: list[_Connection] = []
        self._lock = threading.Lock()

    def run(self, name: str, keys: Sequence[str], args: Sequence[str]) -> Any:
        """The script's reply.

        Raises:
            BackendUnavailableError: the connection failed; the script may or may
                not have run. The next call connects afresh.
        """
        connection = self._take()
        try:
            reply = self._evalsha(connection, name, keys, args)
        except _CONNECTION_ERRORS as exc:
            connection.disconnect()
            self._idle.append((connection, 0.0))
            raise self._unavailable(exc) from exc
        except BaseException:
            connection.disconnect()  # a reply left half-read would poison the next call
            self._idle.append((connection, 0.0))
            raise
        self._idle.append((connection, time.monotonic()))
        return reply

    def _evalsha(
        self, connection: _Connection, name: str, keys: Sequence[str], args: Sequence[str]
    ) -> Any:
        self._send(connection, ("EVALSHA", self._shas[name], len(keys), *keys, *args))
        try:
            return connection.read_response()
        except redis.exceptions.NoScriptError:
            # The server forgot its scripts (a restart, SCRIPT FLUSH): EVAL caches it again.
            self._send(connection, ("EVAL", self._sources[name], len(keys), *keys, *args))
            return connection.read_response()

    def _send(self, connection: _Connection, command: tuple[str | int, ...]) -> None:
        """Send ``command`` as ``connection.send_command`` does, packed by hiredis directly."""
        if self._pack is None:
            connection.send_command(*command)
        else:
            connection.send_packed_command([self._pack(command)])

    def _take(self) -> _Connection:
        try:
            connection, last_used = self._idle.pop()
        except IndexError:
            connection = self._pool.connection_class(**self._connection_kwargs)
            with self._lock:
                self._all.append(connection)
            return connection
        if time.monotonic() - last_used > _IDLE_CHECK_S:
            self._check(connection)
        return connection

    @staticmethod
    def _check(connection: _Connection) -> None:
        """Drop the socket of an idle connection whose peer closed it (a server restart)."""
        try:
            if connection._sock is not None and connection.can_read():
                connection.disconnect()
        except _CONNECTION_ERRORS:
            connection.disconnect()

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        self._idle.clear()
        for connection in connections:
            connection.disconnect()


class Wakeup:
    """Wakes a board's waiting claimers: a pub/sub listener thread bumps a version.

    The listener starts with the first wait (a board that only posts keeps no
    subscription). Each thread remembers the version it saw just before its last
    claim attempt, so a post that lands between that attempt and the wait is
    not missed. Subscribing (first time, or again after the connection broke)
    counts as a change, since messages may have gone unheard meanwhile.

    Args:
        client: the board's client (the listener opens its own connection).
        channel: the board's pub/sub channel.
        next_deadline: returns (server clock now, the next claim expiry or delay
            end to come, or None): waits end then, too.
        name: names the listener thread.
    """

    def __init__(
        self,
        client: redis.Redis,
        channel: str,
        next_deadline: Callable[[], tuple[float, float | None]],
        name: str,
    ) -> None:
        self._client = client
        self._channel = channel
        self._next_deadline = next_deadline
        self._name = name
        self._changed = threading.Condition()
        self._version = 0
        self._seen = threading.local()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._subscribed = threading.Event()

    def note_attempt(self) -> None:
        """Remember, for this thread, the version current before a claim attempt."""
        self._seen.version = self._version

    def wait(self, timeout: float | None) -> bool:
        """Block until a change is heard, the next deadline passes, or ``timeout``."""
        if self._thread is None:
            self._start()
        limit = self._until_deadline(timeout)
        with self._changed:
            seen = getattr(self._seen, "version", None)
            self._seen.version = None
            if seen is None:
                seen = self._version
            woken = self._changed.wait_for(lambda: self._version != seen, limit)
        return woken or limit != timeout

    def _until_deadline(self, timeout: float | None) -> float | None:
        now, earliest = self._next_deadline()
        if earliest is None:
            return timeout
        left = max(0.0, earliest - now) + 0.001
        return left if timeout is None else min(timeout, left)

    def _start(self) -> None:
        with self._changed:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._listen, name=self._name, daemon=True)
            self._thread = thread
        thread.start()
        self._subscribed.wait(_SUBSCRIBE_WAIT_S)

    def stop(self) -> None:
        self._stopping = True
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * _LISTEN_SLICE_S + 1.0)

    def _bump(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def _listen(self) -> None:
        while not self._stopping:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self._channel)
                self._bump()
                self._subscribed.set()
                while not self._stopping:
                    if pubsub.get_message(timeout=_LISTEN_SLICE_S) is not None:
                        self._bump()
            except _CONNECTION_ERRORS:
                time.sleep(_RECONNECT_PAUSE_S)
            finally:
                pubsub.close()

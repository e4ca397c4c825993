"""A publishing thread: messages out in batches, confirms waited for per batch, not per message.

Waiting for RabbitMQ's confirm of each persistent message in turn costs a
disk sync each (milliseconds on a busy machine); here every message queued
meanwhile is published at once and their confirms are collected together.
A message is kept until the broker confirmed it: a nack, or a connection lost
before the confirm, publishes it again (so a message may arrive twice; the
protocol tolerates duplicates, it never tolerates a loss). Over Redis
(no confirms) messages are published in turn.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from steadyflow.workers import _broker

__all__ = ["Publisher"]

_log = logging.getLogger("steadyflow.workers")

_BATCH = 500

Outgoing = tuple[Any, str, bytes, int]
"""(exchange, routing key, body, delivery mode)."""


class Publisher:
    """Publishes what :meth:`send` queues, from a thread of its own, until :meth:`close`.

    Args:
        url: the broker.
        name: the thread's name.
        tick: called from the thread every ``interval`` seconds (heartbeats).
        interval: seconds between two ``tick`` calls.
        declare: entities to declare on each (re)connection.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        tick: Callable[[], None] | None = None,
        interval: float = 1.0,
        declare: tuple[Any, ...] = (),
    ) -> None:
        self.url = url
        self._tick = tick
        self._interval = interval
        self._declare = declare
        self._queue: queue.SimpleQueue[Outgoing | None] = queue.SimpleQueue()
        self._unconfirmed: dict[int, Outgoing] = {}
        self._nacked: collections.deque[Outgoing] = collections.deque()
        self._closing = False
        """Set on the thread once it took the stop request off the queue."""
        self._finishing = False
        """Set once :meth:`finish` queued the stop request."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def send(
        self, exchange: Any, routing_key: str, body: bytes, *, persistent: bool = True
    ) -> None:
        """Queue one message; thread-safe, never blocks.

        A transient message (heartbeats, progress) is confirmed by RabbitMQ
        without a disk sync, and lost if the broker restarts.
        """
        self._queue.put((exchange, routing_key, body, 2 if persistent else 1))

    def finish(self) -> None:
        """Ask the thread to stop once what is queued is published and confirmed; no wait."""
        if not self._finishing:
            self._finishing = True
            self._queue.put(None)

    def close(self, timeout: float = 30) -> None:
        """Publish what is queued (waiting for its confirms), then stop the thread."""
        self.finish()
        self._thread.join(timeout)

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported to whoever owns the publisher
            self.error = exc
            _log.error("publisher %s stopped: %s", self._thread.name, exc)

    def _loop(self) -> None:
        connection = _broker.connect(self.url, confirm=False)
        errors = _broker.connection_errors(connection)
        amqp = _broker.has_announcements(self.url)
        pending: list[Outgoing] = []
        next_tick = time.monotonic()
        try:
            while True:
                try:
                    channel = self._open(connection, amqp)
                    # Unconfirmed messages of a lost connection go out again first.
                    pending = [*self._unconfirmed.values(), *pending]
                    self._unconfirmed.clear()
                    while True:
                        if not pending:
                            next_tick, stop = self._gather(pending, next_tick)
                            if stop and not pending:
                                return
                        self._publish(channel, pending, amqp)
                        pending = []
                        if amqp:
                            self._await_confirms(connection)
                            pending.extend(self._nacked)
                            self._nacked.clear()
                        if self._closing and not pending and self._queue.empty():
                            return
                except errors as exc:
                    _log.warning("publisher lost the broker (%s); reconnecting", exc)
                    connection.collect()
                    time.sleep(0.5)
        finally:
            connection.release()

    def _open(self, connection: Any, amqp: bool) -> Any:
        connection.ensure_connection(max_retries=None, interval_start=0.2, interval_max=1.0)
        channel = connection.channel()
        for entity in self._declare:
            entity(channel).declare()
        if amqp:
            self._tag = 0
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
        return channel

    def _gather(self, pending: list[Outgoing], next_tick: float) -> tuple[float, bool]:
        """Wait for messages (ticking meanwhile); take every one queued, up to a batch."""
        while True:
            now = time.monotonic()
            if self._tick is not None and now >= next_tick:
                self._tick()
                next_tick = now + self._interval
            wait = max(0.0, next_tick - now) if self._tick is not None else None
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                continue
            break
        while True:
            if item is None:
                self._closing = True
                return next_tick, True
            pending.append(item)
            if len(pending) >= _BATCH:
                return next_tick, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return next_tick, False

    def _publish(self, channel: Any, pending: list[Outgoing], amqp: bool) -> None:
        for item in pending:
            exchange, routing_key, body, mode = item
            name = exchange if isinstance(exchange, str) else exchange.name
            message = channel.prepare_message(
                body, 0, "application/json", "utf-8", {}, {"delivery_mode": mode}
            )
            if amqp:
                self._tag += 1
                self._unconfirmed[self._tag] = item
            channel.basic_publish(message, exchange=name, routing_key=routing_key)

    def _await_confirms(self, connection: Any) -> None:
        deadline = time.monotonic() + 30
        while self._unconfirmed:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the broker confirmed none of {len(self._unconfirmed)} messages"
                )
            try:
                connection.drain_events(timeout=1.0)
            except TimeoutError:
                continue

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._nacked.extend(self._settle(tag, multiple))

    def _settle(self, tag: int, multiple: bool) -> list[Outgoing]:
        if not multiple:
            item = self._unconfirmed.pop(tag, None)
            return [] if item is None else [item]
        settled = [t for t in self._unconfirmed if t <= tag]
        return [self._unconfirmed.pop(t) for t in sorted(settled)]

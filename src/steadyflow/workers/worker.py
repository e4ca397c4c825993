"""A worker: runs the tasks it was given for requests from its topic's queue.

Threads:

- the main thread consumes requests; while fewer than ``max_concurrency +
  prefetch`` are started, it starts the next one: publishes ``started``, acks
  it and queues it for the runner threads. A started request is the
  worker's (heartbeats name it until its result is sent), so the ``prefetch``
  started beyond the runners' number wait here, and a runner that finishes
  a task takes the next at once, without a round trip through the broker or
  this thread. Requests beyond those wait unacked (at most ``prefetch``, at
  least one), so a worker that dies leaves them to the broker for another;
- ``max_concurrency`` runner threads call the tasks (an ``async def`` task
  runs on the worker's event loop thread, its runner waiting for it);
- the publisher thread publishes results, progress, heartbeats (every
  ``heartbeat`` seconds, listing the requests still running) and
  announcements, in batches, keeping each until the broker confirmed it.

SIGTERM (or :meth:`Worker.stop`) stops taking requests, lets the started ones
(running, or waiting for a runner) finish and send their results, announces the
worker ``down`` and returns; requests waiting unacked go back to the queue.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from steadyflow.engine._executor import Completion
from steadyflow.errors import MessageError
from steadyflow.workers import _broker, protocol
from steadyflow.workers._calls import result_body, run_request
from steadyflow.workers._publisher import Publisher
from steadyflow.workers._registry import Allowlist

if TYPE_CHECKING:
    from steadyflow.engine._asyncio import LoopThread

__all__ = ["Worker"]

_log = logging.getLogger("steadyflow.workers")

_ANNOUNCE_EVERY = 10
"""Heartbeat intervals between two ``up`` announcements."""


class _Request:
    """A decoded request and the broker message it came in (until acked)."""

    __slots__ = ("fields", "message")

    def __init__(self, fields: dict[str, Any], message: Any) -> None:
        self.fields = fields
        self.message = message


class Worker:
    """Runs an allowlist of tasks for the ``workers`` engine.

    Args:
        broker: the broker URL (``amqp://guest:guest@127.0.0.1:5672//``, ``redis://...``).
        topic: the queue to serve; engines name it with ``topic=``.
        tasks: Task instances, Task classes or functions to run.
        modules: module names to import and take every task from.
        name: how the worker names itself (default ``host.pid.random``).
        max_concurrency: requests run at once.
        prefetch: requests started ahead of a free runner: said ``started``,
            acked and heartbeated, waiting here so that a runner finishing a
            task starts the next one at once (0: each request is started when
            a runner is free). As many more (at least one) wait unacked: they
            go back to the queue if the worker dies; a frozen worker holds
            them until the broker drops its connection, ``broker_heartbeat``
            seconds times two or three. Started ones are the worker's: if it
            dies, engines send them again once its heartbeats stop.
        broker_heartbeat: the AMQP heartbeat of the connection requests come in on.
        heartbeat: seconds between heartbeats; engines presume the worker dead
            after 2.5 of them without one.
        max_message_bytes: the size limit of one message.

    Raises:
        ValueError: no task to run, or an invalid setting.
    """

    def __init__(
        self,
        broker: str,
        topic: str,
        tasks: Iterable[Any] = (),
        *,
        modules: Iterable[str] = (),
        name: str | None = None,
        max_concurrency: int = 4,
        prefetch: int = 1,
        broker_heartbeat: float = 2.0,
        heartbeat: float = 1.0,
        max_message_bytes: int = protocol.MAX_MESSAGE_BYTES,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, not {max_concurrency}")
        if not heartbeat > 0:
            raise ValueError(f"heartbeat must be a positive number of seconds, not {heartbeat}")
        self.allowlist = Allowlist(tasks, modules)
        if not len(self.allowlist):
            raise ValueError("a worker needs tasks to run: pass tasks= or modules=")
        self.broker = broker
        self.topic = _broker.check_topic(topic)
        self.name = name or f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
        self.max_concurrency = max_concurrency
        if prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, not {prefetch}")
        self.prefetch = prefetch
        self._broker_heartbeat = broker_heartbeat
        self.heartbeat = float(heartbeat)
        self._limit = max_message_bytes
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._room = max_concurrency + prefetch
        """Requests started at once at most: running, or waiting for a runner."""
        self._started = 0
        """Requests said ``started`` whose result is not sent yet (under ``_lock``)."""
        self._waiting: collections.deque[_Request] = collections.deque()
        """Deliveries not started yet, unacked: still the broker's (main thread only)."""
        self._arrived: collections.deque[Any] = collections.deque()
        """Deliveries of the current drain_events call (main thread only)."""
        self._work: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._publisher: Publisher | None = None
        self._beats = 0
        self._running: dict[str, str] = {}
        """Request id -> the reply queue of its engine, for heartbeats."""
        self._loop: LoopThread | None = None
        self._channel: Any = None
        """The channel requests come in on (the main thread's)."""
        self.processed = 0

    # -- public ----------------------------------------------------------------------------------

    def run(self) -> None:
        """Serve requests until :meth:`stop` or SIGTERM (from the main thread)."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda signum, frame: self.stop())
        runners = [
            threading.Thread(target=self._runner, name=f"steadyflow-run-{i}", daemon=True)
            for i in range(self.max_concurrency)
        ]
        announce = (_broker.announce_exchange(self.topic),)
        self._publisher = Publisher(
            self.broker,
            name="steadyflow-send",
            tick=self._beat,
            interval=self.heartbeat,
            declare=announce if _broker.has_announcements(self.broker) else (),
        )
        self._publisher.start()
        for thread in runners:
            thread.start()
        try:
            self._consume()
        finally:
            for _ in runners:
                self._work.put(None)
            for thread in runners:
                thread.join()
            self._announce("down")
            self._publisher.close()
            if self._loop is not None:
                self._loop.close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def stop(self) -> None:
        """Stop taking requests; :meth:`run` returns once the started ones have replied."""
        self._stop.set()

    # -- the main thread: requests in --------------------------------------------------------------

    def _consume(self) -> None:
        kombu = _broker.import_kombu()
        connection = _broker.connect(self.broker, heartbeat=self._broker_heartbeat, confirm=False)
        errors = (*_broker.connection_errors(connection), kombu.OperationalError)
        requests = _broker.request_queue(self.topic)
        try:
            while not self._stop.is_set():
                try:
                    connection.ensure_connection(max_retries=1)
                    self._channel = connection.default_channel
                    with kombu.Consumer(
                        connection,
                        queues=[requests],
                        on_message=self._receive,
                        prefetch_count=max(1, self.prefetch),
                    ):
                        _log.info(
                            "worker %s serves %s on %s with %d task(s)",
                            self.name,
                            self.topic,
                            connection.as_uri(),
                            len(self.allowlist),
                        )
                        self._serve(connection)
                except errors as exc:
                    if self._stop.is_set():
                        break
                    _log.warning("worker %s lost the broker (%s); reconnecting", self.name, exc)
                    self._forget_unacked()
                    connection.collect()
                    time.sleep(0.5)
        finally:
            self._forget_unacked()
            connection.release()

    def _serve(self, connection: Any) -> None:
        arrived = self._arrived
        while not self._stop.is_set():
            # A waiting request starts here once a runner frees room: look often meanwhile.
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=0.002 if self._waiting else 0.25)
            # Handled after drain_events returns: publishing from inside a delivery callback
            # would read frames re-entrantly.
            while arrived:
                self._take(arrived.popleft())
            self._start_waiting()
            connection.heartbeat_check()

    def _forget_unacked(self) -> None:
        """Drop requests that were never acked: the broker gives them to a worker again.

        Started ones were acked: they stay queued for the runners.
        """
        self._waiting.clear()
        self._arrived.clear()

    def _receive(self, message: Any) -> None:
        self._arrived.append(message)

    def _take(self, message: Any) -> None:
        try:
            fields = protocol.decode(message.body, self._limit)
            if fields["type"] != "request":
                raise MessageError(f"a {fields['type']} message in a request queue")
        except MessageError as exc:
            _log.warning("worker %s rejected a message: %s", self.name, exc)
            message.reject()
            return
        deadline = fields["deadline"]
        if deadline is not None and deadline <= time.time():
            _log.warning("worker %s dropped %s: its deadline passed", self.name, fields["key"])
            message.ack()
            return
        self._waiting.append(_Request(fields, message))

    def _start_waiting(self) -> None:
        """Start waiting requests, oldest first, while started ones leave room."""
        while self._waiting and not self._stop.is_set():
            with self._lock:
                if self._started >= self._room:
                    return
                self._started += 1
            request = self._waiting.popleft()
            self._announce_started(request)
            self._work.put(request)

    def _announce_started(self, request: _Request) -> None:
        """Say ``started``, then ack: from now on heartbeats cover the request."""
        fields = request.fields
        with self._lock:
            self._running[fields["id"]] = fields["reply_to"]
        body = protocol.encode(
            "started", self._limit, id=fields["id"], worker=self.name, heartbeat=self.heartbeat
        )
        self._send_now(fields["reply_to"], body)
        request.message.ack()
        request.message = None

    def _send_now(self, reply_to: str, body: bytes) -> None:
        """Publish ``started``, on the channel the ack then goes on.

        The broker handles the two in that order, so a request is never acked
        without its ``started`` routed to the engine first. It is transient and
        not confirmed: what a confirm would add (that it was routed) a broker
        restart would undo anyway; the next heartbeat, which names the request
        too, makes up for a ``started`` lost that way.
        """
        channel = self._channel
        assert channel is not None
        # The channel's own publish: kombu's Producer costs more than the message itself.
        message = channel.prepare_message(
            body, 0, "application/json", "utf-8", {}, {"delivery_mode": 1}
        )
        channel.basic_publish(message, exchange="", routing_key=reply_to)

    # -- runner threads: the tasks ----------------------------------------------------------------

    def _runner(self) -> None:
        while True:
            request = self._work.get()
            if request is None:
                return
            self._run_one(request.fields)

    def _run_one(self, fields: dict[str, Any]) -> None:
        request_id = fields["id"]
        try:
            try:
                completion = self._call(fields)
            finally:
                with self._lock:
                    self._running.pop(request_id, None)
                    self.processed += 1
            self._reply(fields, completion)
        finally:
            with self._lock:
                self._started -= 1

    def _call(self, fields: dict[str, Any]) -> Completion:
        reply_to = fields["reply_to"]

        def progress(fraction: float) -> None:
            body = protocol.encode("progress", self._limit, id=fields["id"], fraction=fraction)
            self._send(reply_to, body, persistent=False)

        return run_request(self.allowlist, fields, progress, self._loop_thread)

    def _loop_thread(self) -> LoopThread:
        with self._lock:
            if self._loop is None:
                from steadyflow.engine._asyncio import LoopThread

                self._loop = LoopThread()
            return self._loop

    def _reply(self, fields: dict[str, Any], completion: Completion) -> None:
        body = result_body(fields, self.name, completion, self._limit)
        self._send(fields["reply_to"], body)

    # -- the publisher thread: everything out --------------------------------------------------

    def _send(self, reply_to: str, body: bytes, *, persistent: bool = True) -> None:
        assert self._publisher is not None
        self._publisher.send("", reply_to, body, persistent=persistent)

    def _beat(self) -> None:
        """Heartbeats for the requests running here (on the publisher's thread, every interval)."""
        with self._lock:
            by_queue: dict[str, list[str]] = {}
            for request_id, reply_to in self._running.items():
                by_queue.setdefault(reply_to, []).append(request_id)
        for reply_to, ids in by_queue.items():
            body = protocol.encode(
                "heartbeat", self._limit, worker=self.name, ids=ids, heartbeat=self.heartbeat
            )
            self._send(reply_to, body, persistent=False)
        self._beats += 1
        if self._beats % _ANNOUNCE_EVERY == 1:
            self._announce("up")

    def _announce(self, state: str) -> None:
        if not _broker.has_announcements(self.broker) or self._publisher is None:
            return
        body = protocol.encode(
            "announce", self._limit, worker=self.name, state=state, topic=self.topic,
            capacity=self.max_concurrency, heartbeat=self.heartbeat, tasks=self.allowlist.names(),
        )  # fmt: skip
        self._publisher.send(_broker.announce_exchange(self.topic), "", body, persistent=False)

"""The ``workers`` engine's executor: each task call becomes a request to a remote worker.

Retry controllers (and anything that is not a task) still run here, in the
engine; a task's ``execute`` or ``revert``, or one element of a Map, is
published as a ``request`` to the topic's queue, and its completion is the
worker's ``result``.

Delivery discipline (docs/workers.md states it for users):

- a request is a persistent message published with confirms into a durable
  queue, from a publishing thread that keeps it until the broker confirmed
  it (and publishes it again after a lost connection); an engine that dies
  before then re-dispatches the task when its flow is resumed, as it does any
  task left RUNNING;
- a worker acks a request when it *starts* it, right after publishing
  ``started`` on the same channel; from then on it heartbeats every interval.
  A worker that dies before acking leaves the request to the broker, which
  hands it to another worker; one that dies after is noticed here when its
  heartbeats stop (2.5 of its intervals), and the request is published again
  under a new request id, with the same idempotency key and attempt;
- only the reply to the request id currently awaited completes a job: a late
  reply from a worker presumed dead, or one for an earlier engine (whose
  lease another runner took), is dropped and logged.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from steadyflow.engine._executor import (
    Completion,
    Job,
    ThreadedExecutor,
    failed,
    timeout_failure,
)
from steadyflow.errors import MessageError
from steadyflow.workers import _broker, protocol
from steadyflow.workers._calls import completion_of, prepare
from steadyflow.workers._publisher import Publisher

__all__ = ["WorkersExecutor"]

_log = logging.getLogger("steadyflow.workers")

PRESUMED_DEAD_AFTER = 2.5
"""Heartbeat intervals of silence after which a worker running a request is presumed dead."""

_WAKE_BODY = b"wake"
#: How kombu hands the wake-up back: a body published as bytes arrives decoded as text.
_WAKE_BODIES = (_WAKE_BODY, _WAKE_BODY.decode())
"""What :meth:`WorkersExecutor.wake` sends to its own reply queue to end a wait."""


class _Pending:
    """One request awaited: its job, its message, and what was heard of its worker."""

    __slots__ = ("body", "deadline", "fields", "heartbeat", "job", "last_seen", "worker")

    def __init__(self, job: Job, fields: dict[str, Any], body: bytes) -> None:
        self.job = job
        self.fields = fields
        self.body = body
        self.deadline = None if job.timeout is None else time.monotonic() + job.timeout
        self.worker: str | None = None
        self.heartbeat = 0.0
        self.last_seen = 0.0

    def silent_until(self) -> float | None:
        """When the worker running this request is presumed dead, if one took it."""
        if self.worker is None:
            return None
        return self.last_seen + PRESUMED_DEAD_AFTER * self.heartbeat


class WorkersExecutor(ThreadedExecutor):
    """Sends tasks to ``steadyflow worker`` processes over a kombu broker.

    Args:
        broker: the broker URL (``amqp://...`` for RabbitMQ, ``redis://...``).
        topic: which workers: those started with the same topic.
        capacity: requests kept in flight at once (the broker queues them
            until a worker has a free slot).
        epoch: returns the lease epoch of the persisted run (None without
            one), sent with every request and checked on every reply.
        max_message_bytes: the size limit of one message.
    """

    def __init__(
        self,
        broker: str,
        topic: str,
        *,
        capacity: int = 64,
        epoch: Callable[[], int | None] | None = None,
        max_message_bytes: int = protocol.MAX_MESSAGE_BYTES,
    ) -> None:
        if not isinstance(broker, str) or "://" not in broker:
            raise ValueError(f"broker must be a URL such as amqp://host//, not {broker!r}")
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, not {capacity}")
        self.topic = _broker.check_topic(topic)
        self.broker = broker
        self.capacity = capacity
        self._epoch = epoch or (lambda: None)
        self._limit = max_message_bytes
        self._reply_name = f"steadyflow.reply.{uuid.uuid4().hex}"
        self._pending: dict[str, _Pending] = {}
        self._local: list[Completion] = []
        self._arrived: list[dict[str, Any]] = []
        """Replies read from the reply queue, not handled yet."""
        self.workers: dict[str, dict[str, Any]] = {}
        """Workers of the topic that announced themselves: name -> their announcement."""
        self.redispatched = 0
        """Requests published again because their worker went silent."""
        self._connection: Any | None = None
        self._publisher: Publisher | None = None
        self._consumer: Any = None
        self._broker_down = False
        self._errors: tuple[type[BaseException], ...] = ()

    # -- the Executor interface ------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._pending) + len(self._local)

    def submit(self, job: Job) -> None:
        prepared = prepare(
            job, self._await, epoch=self._epoch(), reply_to=self._reply_name, limit=self._limit
        )
        if isinstance(prepared, Completion):
            self._local.append(prepared)
            return
        request_id, fields, body = prepared
        self._start()
        pending = _Pending(job, fields, body)
        self._pending[request_id] = pending
        self._publish(body)

    def take(self) -> list[Completion]:
        done, self._local = self._local, []
        arrived, self._arrived = self._arrived, []
        for message in arrived:
            completion = self._handle(message)
            if completion is not None:
                done.append(completion)
        if self._publisher is not None and self._publisher.error is not None:
            raise self._publisher.error
        if self._pending:
            done.extend(self._overdue())
        return done

    def wait(self, timeout: float | None) -> None:
        if self._local or self._arrived or not self._pending:
            return
        until = self._next_check()
        if until is not None:
            left = max(0.0, until - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        self._drain(timeout)

    def wake(self) -> None:
        # A message to our own reply queue ends the drain_events() the engine waits in.
        if self._publisher is not None:
            self._publisher.send("", self._reply_name, _WAKE_BODY, persistent=False)

    def abandon(self) -> list[Job]:
        jobs = [pending.job for pending in self._pending.values()]
        self._pending.clear()
        return jobs

    def close(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.finish()  # it publishes what is queued meanwhile, on its own thread
        if self._connection is not None:
            if self._consumer is not None and not self._broker_down:
                # Stop consuming first: deleting a queue under its consumer makes the broker
                # cancel it while the channel closes (a warning from the AMQP library).
                with contextlib.suppress(*self._errors):
                    self._consumer.cancel()
            self._delete_reply_queue()
            self._connection.release()
            self._connection = None
            self._consumer = None
        if publisher is not None:
            publisher.close()
        self._close_loop()

    # -- replies ---------------------------------------------------------------------------------

    def _handle(self, message: dict[str, Any]) -> Completion | None:
        kind = message["type"]
        if kind == "result":
            return self._result(message)
        if kind == "started":
            pending = self._pending.get(message["id"])
            if pending is not None:
                pending.worker = message["worker"]
                pending.heartbeat = float(message["heartbeat"])
                pending.last_seen = time.monotonic()
        elif kind == "heartbeat":
            self._heartbeat(message)
        elif kind == "progress":
            pending = self._pending.get(message["id"])
            if pending is not None:
                pending.job.context.report_progress(float(message["fraction"]))
        elif kind == "announce":
            self._announce(message)
        return None

    def _result(self, message: dict[str, Any]) -> Completion | None:
        request_id = message["id"]
        pending = self._pending.get(request_id)
        if pending is None:
            _log.info(
                "ignoring a late reply %s from worker %s (%s): no request awaits it",
                request_id,
                message["worker"],
                message["key"],
            )
            return None
        completion = completion_of(pending.job, pending.fields, message)
        if completion is not None:
            del self._pending[request_id]
        return completion

    def _heartbeat(self, message: dict[str, Any]) -> None:
        now = time.monotonic()
        worker = message["worker"]
        for request_id in message["ids"]:
            pending = self._pending.get(request_id)
            if pending is None or pending.worker not in (None, worker):
                continue
            if pending.worker is None:  # its "started" is still on the way
                pending.worker = worker
                pending.heartbeat = float(message["heartbeat"])
            pending.last_seen = now

    def _announce(self, message: dict[str, Any]) -> None:
        worker = message["worker"]
        if message["state"] == "down":
            self.workers.pop(worker, None)
            _log.info("worker %s left topic %s", worker, message["topic"])
            return
        if worker not in self.workers:
            _log.info("worker %s joined topic %s", worker, message["topic"])
        self.workers[worker] = message

    def _overdue(self) -> list[Completion]:
        """Time out jobs past their deadline; publish again those whose worker went silent."""
        now = time.monotonic()
        done: list[Completion] = []
        for request_id, pending in list(self._pending.items()):
            if pending.deadline is not None and pending.deadline <= now:
                del self._pending[request_id]
                done.append(failed(pending.job, timeout_failure(pending.job)))
                continue
            silent = pending.silent_until()
            if silent is not None and silent <= now and not self._broker_down:
                self._redispatch(request_id, pending)
        return done

    def _redispatch(self, request_id: str, pending: _Pending) -> None:
        del self._pending[request_id]
        _log.warning(
            "worker %s went silent running %s (request %s): sending it again",
            pending.worker,
            pending.fields["key"],
            request_id,
        )
        new_id = uuid.uuid4().hex
        body = protocol.encode("request", self._limit, id=new_id, **pending.fields)
        fresh = _Pending(pending.job, pending.fields, body)
        fresh.deadline = pending.deadline
        self._pending[new_id] = fresh
        self.redispatched += 1
        self._publish(body)

    def _next_check(self) -> float | None:
        """When :meth:`take` next has something to time out or send again."""
        times = [p.deadline for p in self._pending.values() if p.deadline is not None]
        if self._broker_down:
            # No heartbeat can come: nobody is presumed dead until it is back (no busy loop).
            times.append(time.monotonic() + 0.5)
        else:
            times.extend(
                when for p in self._pending.values() if (when := p.silent_until()) is not None
            )
        return min(times) if times else None

    # -- the broker --------------------------------------------------------------------------------

    def _start(self) -> None:
        """Connect, declare the topic's queue, start consuming replies and publishing requests.

        Replies are read by the engine's own thread, in :meth:`wait`: no
        thread stands between a reply and the engine acting on it. The
        publishing thread connects (and declares the topic's queue, before
        anything it publishes) while this thread declares the reply queue;
        nothing is sent to it before that queue exists, so no reply can
        find it missing.
        """
        if self._connection is not None:
            return
        kombu = _broker.import_kombu()
        connection = _broker.connect(self.broker)
        publisher = None
        try:
            connection.ensure_connection(max_retries=2, interval_start=0.5, interval_step=0.5)
            publisher = Publisher(
                self.broker,
                name=f"steadyflow-requests-{self.topic}",
                declare=self._request_queues(),
            )
            publisher.start()
            self._consume(connection)
        except Exception as exc:
            if publisher is not None:
                publisher.close(timeout=5)
            connection.release()
            raise _broker.unreachable(self.broker, exc) from exc
        self._connection = connection
        self._errors = (*_broker.connection_errors(connection), kombu.OperationalError)
        self._publisher = publisher

    def _request_queues(self) -> tuple[Any, ...]:
        """The queues requests go to, declared on every (re)connection (a transport hook)."""
        return (_broker.request_queue(self.topic),)

    def _reply_queue(self) -> Any:
        """This engine's reply queue (bound to the topic's announcements where they work)."""
        return _broker.reply_queue(
            self._reply_name, self.topic, announcements=_broker.has_announcements(self.broker)
        )

    def _consume(self, connection: Any) -> None:
        kombu = _broker.import_kombu()
        reply = self._reply_queue()
        self._consumer = kombu.Consumer(
            connection.default_channel, queues=[reply], on_message=self._receive, no_ack=True
        )
        self._consumer.consume()

    def _publish(self, body: bytes) -> None:
        """Send one encoded request (a transport hook: Celery sends it as a Celery task)."""
        assert self._publisher is not None
        self._publisher.send(_broker.REQUEST_EXCHANGE, self.topic, body)

    def _drain(self, timeout: float | None) -> None:
        """Read replies for up to ``timeout`` seconds (a :meth:`wake` ends it early)."""
        connection = self._connection
        assert connection is not None
        if self._broker_down:
            self._reconnect(connection)
            return
        try:
            connection.drain_events(timeout=timeout)
        except TimeoutError:
            return
        except self._errors as exc:
            _log.warning("lost the broker (%s); reconnecting", exc)
            # While it is gone, silence is not a worker's fault (see _overdue).
            self._broker_down = True
            connection.collect()

    def _reconnect(self, connection: Any) -> None:
        try:
            connection.ensure_connection(max_retries=1)
            self._consume(connection)
        except self._errors:
            connection.collect()
            time.sleep(0.5)
            return
        self._broker_down = False
        # The silence was ours: every worker gets its full grace again.
        now = time.monotonic()
        for pending in self._pending.values():
            pending.last_seen = now

    def _receive(self, message: Any) -> None:
        raw = message.body
        if raw in _WAKE_BODIES:
            return
        try:
            decoded = protocol.decode(raw, self._limit)
        except MessageError as exc:
            _log.warning("rejected a message on %s: %s", self._reply_name, exc)
            return
        if decoded["type"] == "request":
            _log.warning("rejected a request sent to reply queue %s", self._reply_name)
            return
        self._arrived.append(decoded)

    def _delete_reply_queue(self) -> None:
        assert self._connection is not None
        try:
            self._reply_queue()(self._connection.default_channel).delete()
        except Exception as exc:  # it expires on its own anyway
            _log.debug("could not delete reply queue %s: %s", self._reply_name, exc)

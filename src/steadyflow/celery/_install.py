"""The Celery worker's side: one generic Celery task that runs allowlisted steadyflow tasks.

The generic task takes one argument, the JSON text of a workers-protocol
``request``, and answers on the engine's reply queue (on the Celery app's
own broker) with ``started``, ``heartbeat``, ``progress`` and ``result``
messages, exactly as a ``steadyflow worker`` does, so the engine applies the
same deadline, heartbeat and superseded-reply rules.

It is registered with late acknowledgement and reject-on-worker-lost: a
Celery worker killed mid-task leaves the request to the broker, which hands
it to a worker again (same request, same idempotency key).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

from steadyflow.errors import MessageError
from steadyflow.workers import protocol
from steadyflow.workers._calls import process_loop, result_body, run_request
from steadyflow.workers._registry import Allowlist

__all__ = ["TASK_NAME", "install"]

_log = logging.getLogger("steadyflow.celery")

TASK_NAME: Final = "steadyflow.run"
"""The name of the generic Celery task the engine sends requests to."""

_PUBLISH_RETRY: Final = {
    "max_retries": 120,
    "interval_start": 0.1,
    "interval_step": 0.5,
    "interval_max": 1.0,
}
"""A reply is published again through a broker restart, for about two minutes."""


def install(
    app: Any,
    tasks: Iterable[Any] = (),
    *,
    modules: Iterable[str] = (),
    heartbeat: float = 1.0,
    max_message_bytes: int = protocol.MAX_MESSAGE_BYTES,
) -> Any:
    """Register the generic steadyflow task on ``app``, running only the given tasks.

    Args:
        app: the ``celery.Celery`` app the workers run.
        tasks: Task instances, Task classes or functions to allow.
        modules: module names to import and allow every task of.
        heartbeat: seconds between heartbeats while a task runs; the engine
            presumes the Celery worker dead after 2.5 of them without one.
        max_message_bytes: the size limit of one message.

    Returns:
        The registered Celery task.

    Raises:
        ValueError: nothing to allow, or an invalid heartbeat.
        TypeError: ``app`` is not a Celery app.
    """
    if not callable(getattr(app, "task", None)):
        raise TypeError(f"install() needs a celery.Celery app, not {app!r}")
    if not heartbeat > 0:
        raise ValueError(f"heartbeat must be a positive number of seconds, not {heartbeat}")
    allowlist = Allowlist(tasks, modules)
    if not len(allowlist):
        raise ValueError("install() needs tasks to allow: pass tasks= or modules=")

    def steadyflow_run(request: str) -> None:
        _serve(app, allowlist, request, float(heartbeat), max_message_bytes)

    return app.task(
        name=TASK_NAME,
        acks_late=True,
        reject_on_worker_lost=True,
        serializer="json",
        ignore_result=True,
        typing=False,
    )(steadyflow_run)


def _serve(app: Any, allowlist: Allowlist, body: str, heartbeat: float, limit: int) -> None:
    try:
        fields = protocol.decode(body, limit)
        if fields["type"] != "request":
            raise MessageError(f"a {fields['type']} message sent as a request")
    except MessageError as exc:
        _log.warning("rejected a steadyflow request: %s", exc)
        return
    deadline = fields["deadline"]
    if deadline is not None and deadline <= time.time():
        _log.warning("dropped %s: its deadline passed", fields["key"])
        return
    worker = f"{socket.gethostname()}.{os.getpid()}"
    request_id = fields["id"]
    reply_to = fields["reply_to"]

    def send(message: bytes, persistent: bool = False) -> None:
        _send(app, reply_to, message, persistent=persistent)

    def progress(fraction: float) -> None:
        send(protocol.encode("progress", limit, id=request_id, fraction=fraction))

    send(protocol.encode("started", limit, id=request_id, worker=worker, heartbeat=heartbeat))
    beat = protocol.encode("heartbeat", limit, worker=worker, ids=[request_id], heartbeat=heartbeat)
    stop = threading.Event()
    beating = threading.Thread(
        target=_heartbeats, args=(stop, send, beat, heartbeat), name="steadyflow-beat", daemon=True
    )
    beating.start()
    try:
        completion = run_request(allowlist, fields, progress, process_loop)
    finally:
        stop.set()
        beating.join()
    send(result_body(fields, worker, completion, limit), persistent=True)


def _heartbeats(
    stop: threading.Event, send: Callable[[bytes], None], beat: bytes, every: float
) -> None:
    while not stop.wait(every):
        try:
            send(beat)
        except Exception as exc:  # a missed beat is for the engine to judge
            _log.warning("could not send a heartbeat: %s", exc)


def _send(app: Any, reply_to: str, body: bytes, *, persistent: bool) -> None:
    """Publish a reply on the app's broker, straight into the engine's reply queue.

    As from steadyflow's own workers, only results are persistent: ``started``,
    heartbeats and progress are transient (a broker restart may lose them).
    """
    with app.producer_pool.acquire(block=True) as producer:
        producer.publish(
            body,
            exchange="",
            routing_key=reply_to,
            serializer=None,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2 if persistent else 1,
            retry=True,
            retry_policy=_PUBLISH_RETRY,
        )

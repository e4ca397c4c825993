"""The ``celery`` engine's executor: each task call becomes one Celery task message.

It is the ``workers`` engine's executor with another way in: a request is
sent with ``app.send_task`` to the generic task :func:`~steadyflow.celery.install`
registers (JSON serializer, to the app's default queue or ``queue``); the
replies come back on this engine's own reply queue on the app's broker, so
completions, deadlines, heartbeats and superseded replies are handled by
exactly the same code as for steadyflow's own workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from steadyflow.celery._install import TASK_NAME
from steadyflow.workers import _broker, protocol
from steadyflow.workers.executor import WorkersExecutor

__all__ = ["CeleryExecutor"]


class CeleryExecutor(WorkersExecutor):
    """Sends tasks to a Celery fleet whose workers ran :func:`steadyflow.celery.install`.

    Args:
        app: the ``celery.Celery`` app (its broker carries requests and replies).
        queue: the Celery queue to send to (default: the app's ``task_default_queue``).
        capacity: requests kept in flight at once.
        epoch: returns the lease epoch of the persisted run (None without one).
        max_message_bytes: the size limit of one message.

    Raises:
        TypeError: ``app`` is not a Celery app.
    """

    def __init__(
        self,
        app: Any,
        *,
        queue: str | None = None,
        capacity: int = 64,
        epoch: Callable[[], int | None] | None = None,
        max_message_bytes: int = protocol.MAX_MESSAGE_BYTES,
    ) -> None:
        if not callable(getattr(app, "send_task", None)):
            raise TypeError(f'engine="celery" needs a celery.Celery app, not {app!r}')
        with app.connection_for_write() as connection:
            broker = connection.as_uri(include_password=True)
        super().__init__(
            broker,
            queue or app.conf.task_default_queue,
            capacity=capacity,
            epoch=epoch,
            max_message_bytes=max_message_bytes,
        )
        self._app = app

    def _request_queues(self) -> tuple[Any, ...]:
        """None: Celery declares its own queues (the publisher only carries wake-ups here)."""
        return ()

    def _reply_queue(self) -> Any:
        return _broker.reply_queue(self._reply_name, self.topic, announcements=False)

    def _publish(self, body: bytes) -> None:
        self._app.send_task(
            TASK_NAME, args=(body.decode(),), queue=self.topic, serializer="json", retry=True
        )

"""The remote engines' options, checked against the engine kind, and their executors.

``engine="workers"`` (our own workers over a broker), ``"celery"`` and
``"dask"`` send each task elsewhere; everything else about a run stays in
the engine. Their executors are imported only when such an engine runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from steadyflow.engine._executor import Executor

__all__ = ["REMOTE_KINDS", "RemoteOptions"]

REMOTE_KINDS = ("workers", "celery", "dask")


class RemoteOptions:
    """Where a remote engine sends its tasks: one option set per kind, none for the others.

    (A plain class: ``import steadyflow`` does not load :mod:`dataclasses`.)
    """

    __slots__ = ("broker", "celery_app", "client", "topic")

    def __init__(
        self,
        broker: str | None = None,
        topic: str | None = None,
        celery_app: Any = None,
        client: Any = None,
    ) -> None:
        self.broker = broker
        self.topic = topic
        self.celery_app = celery_app
        self.client = client

    def check(self, kind: str) -> None:
        """Refuse a missing option of ``kind``, or an option of another kind.

        Raises:
            ValueError: naming the option and the engine it belongs to.
        """
        if kind == "workers" and (self.broker is None or self.topic is None):
            raise ValueError('engine="workers" needs broker= (a URL) and topic=')
        if kind != "workers" and (self.broker is not None or self.topic is not None):
            raise ValueError(f'broker= and topic= are options of engine="workers", not {kind!r}')
        if kind == "celery" and self.celery_app is None:
            raise ValueError(
                'engine="celery" needs celery_app= (the celery.Celery app of the fleet)'
            )
        if kind != "celery" and self.celery_app is not None:
            raise ValueError(f'celery_app= is an option of engine="celery", not {kind!r}')
        if kind == "dask" and self.client is None:
            raise ValueError(
                'engine="dask" needs client= (a distributed.Client or scheduler address)'
            )
        if kind != "dask" and self.client is not None:
            raise ValueError(f'client= is an option of engine="dask", not {kind!r}')

    def executor(
        self, kind: str, *, capacity: int, epoch: Callable[[], int | None] | None
    ) -> Executor:
        """The executor of remote engine ``kind``, checked by :meth:`check` beforehand."""
        if kind == "celery":
            from steadyflow.celery.executor import CeleryExecutor

            return CeleryExecutor(self.celery_app, capacity=capacity, epoch=epoch)
        if kind == "dask":
            from steadyflow.dask.executor import DaskExecutor

            return DaskExecutor(self.client, capacity=capacity, epoch=epoch)
        from steadyflow.workers.executor import WorkersExecutor

        assert self.broker is not None
        assert self.topic is not None
        return WorkersExecutor(self.broker, self.topic, capacity=capacity, epoch=epoch)

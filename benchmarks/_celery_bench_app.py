"""The Celery app of the remote-engines benchmark's Celery workers (``celery -A``)."""

from __future__ import annotations

import os

from celery import Celery

import steadyflow.celery

BROKER = os.environ.get("SF_BENCH_BROKER", "amqp://guest:guest@127.0.0.1:5672//")


def make_app(queue: str) -> Celery:
    """An app of the benchmark broker that sends to and serves ``queue`` (no result backend)."""
    app = Celery("steadyflow-bench", broker=BROKER, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        worker_prefetch_multiplier=4,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


app = make_app(os.environ.get("SF_BENCH_QUEUE", "sf-bench"))
steadyflow.celery.install(app, modules=["_sf_worker_tasks"])

"""The Celery app of the Celery tests' worker process (``celery -A celery_dask._celery_app``).

It serves the queue named by ``SF_CELERY_QUEUE`` (one per test) on the
RabbitMQ of ``STEADYFLOW_TEST_RABBITMQ_URL``, with no result backend: the
steadyflow replies go straight to the engine's reply queue on that broker.
"""

from __future__ import annotations

import os

from celery import Celery

import steadyflow.celery

AMQP_URL = os.environ.get("STEADYFLOW_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def make_app(queue: str) -> Celery:
    """An app of the test broker that sends to and serves ``queue``."""
    app = Celery("steadyflow-tests", broker=AMQP_URL, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        worker_prefetch_multiplier=1,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


app = make_app(os.environ.get("SF_CELERY_QUEUE", "sftest-celery"))
# A heartbeat of 2 s: the engine presumes a silent child dead after 5 s, well after Celery
# delivered a killed child's request again (else both would run it, as documented).
steadyflow.celery.install(app, modules=["workers._tasks"], heartbeat=2.0)

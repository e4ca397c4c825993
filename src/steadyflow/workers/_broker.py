"""Where messages go on the broker, and the kombu plumbing both sides share.

- requests: the durable direct exchange ``steadyflow``, routing key = topic,
  into the durable queue ``steadyflow.<topic>`` that every worker of the
  topic consumes (competing consumers: the broker hands a request to a
  worker with a free slot, so load decides, not a guess);
- replies: the engine's own durable queue ``steadyflow.reply.<random>``
  (expiring a while after its engine is gone), through the default exchange;
- announcements: the fanout exchange ``steadyflow.announce.<topic>``, bound
  to every engine's reply queue.

Requests and replies are persistent messages, published with confirms
(RabbitMQ) and retried through reconnections, so a broker restart loses
none of them.
"""

from __future__ import annotations

import logging
import re
from types import SimpleNamespace
from typing import Any

from steadyflow.errors import BackendUnavailableError, MissingDriverError

__all__ = [
    "announce_exchange",
    "connect",
    "connection_errors",
    "import_kombu",
    "reply_queue",
    "request_exchange",
    "request_queue",
]

_log = logging.getLogger("steadyflow.workers")

_TOPIC = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")

REPLY_QUEUE_EXPIRES_S = 600
"""A reply queue lives this long after its engine stopped consuming it (crashed)."""


def import_kombu() -> Any:
    """kombu's classes (Connection, Producer, Consumer, Exchange, Queue, binding).

    Taken from kombu's own submodules, not its lazy top-level module, whose
    first attribute lookups are not safe from several threads at once.

    Raises:
        MissingDriverError: kombu is not installed, saying how to install it.
    """
    global _KOMBU
    if _KOMBU is not None:
        return _KOMBU
    try:
        from kombu.connection import Connection
        from kombu.entity import Exchange, Queue, binding
        from kombu.exceptions import OperationalError
        from kombu.messaging import Consumer, Producer
    except ImportError as exc:
        raise MissingDriverError(
            "the workers engine needs kombu: pip install 'steadyflow[workers]'"
        ) from exc
    _KOMBU = SimpleNamespace(
        Connection=Connection,
        Producer=Producer,
        Consumer=Consumer,
        Exchange=Exchange,
        Queue=Queue,
        binding=binding,
        OperationalError=OperationalError,
    )
    return _KOMBU


_KOMBU: Any = None


def unreachable(url: str, exc: BaseException) -> BackendUnavailableError:
    """The error for a broker that cannot be reached, naming it without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        url = parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host).geturl()
    return BackendUnavailableError(f"message broker {url} cannot be reached: {exc}")


def check_topic(topic: object) -> str:
    """Refuse a topic that would make an odd queue name.

    Raises:
        ValueError: ``topic`` is not 1-200 letters, digits or ``_.:-``.
    """
    if not isinstance(topic, str) or not _TOPIC.match(topic):
        raise ValueError(f"topic must be 1-200 letters, digits or '_.:-', not {topic!r}")
    return topic


def connect(url: str, *, heartbeat: float = 0, confirm: bool = True) -> Any:
    """A kombu connection to ``url``; with ``confirm``, each publish waits for its confirm
    (where the transport has confirms)."""
    kombu = import_kombu()
    options: dict[str, Any] = {}
    if confirm and url.startswith(("amqp", "pyamqp")):
        options["confirm_publish"] = True
    connection: Any = kombu.Connection(
        url, transport_options=options, heartbeat=heartbeat, connect_timeout=5
    )
    return connection


def connection_errors(connection: Any) -> tuple[type[BaseException], ...]:
    """What a lost connection raises with this transport (plus OSError)."""
    return (*connection.connection_errors, *connection.channel_errors, OSError)


REQUEST_EXCHANGE = "steadyflow"
"""The durable direct exchange requests are published to (routing key: the topic)."""


def request_exchange() -> Any:
    kombu = import_kombu()
    exchange: Any = kombu.Exchange(REQUEST_EXCHANGE, type="direct", durable=True)
    return exchange


def request_queue(topic: str) -> Any:
    """The durable queue every worker of ``topic`` takes requests from."""
    kombu = import_kombu()
    queue: Any = kombu.Queue(
        f"steadyflow.{topic}", exchange=request_exchange(), routing_key=topic, durable=True
    )
    return queue


def announce_exchange(topic: str) -> Any:
    kombu = import_kombu()
    exchange: Any = kombu.Exchange(f"steadyflow.announce.{topic}", type="fanout", durable=False)
    return exchange


def reply_queue(name: str, topic: str, *, announcements: bool = True) -> Any:
    """An engine's reply queue (fed through the default exchange), bound to announcements.

    kombu's Redis transport consumes a queue bound to a fanout exchange by
    pub/sub only, which would lose the replies: there, pass ``announcements=False``.
    """
    kombu = import_kombu()
    bindings = [kombu.binding(announce_exchange(topic))] if announcements else []
    queue: Any = kombu.Queue(
        name,
        exchange=kombu.Exchange(""),
        routing_key=name,
        durable=True,
        queue_arguments={"x-expires": REPLY_QUEUE_EXPIRES_S * 1000},
        bindings=bindings,
    )
    return queue


def has_announcements(url: str) -> bool:
    """Whether announcements reach engines over this broker (AMQP; not kombu's Redis)."""
    return url.startswith(("amqp", "pyamqp"))

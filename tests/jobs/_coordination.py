"""ZooKeeper and etcd for the board tests: URLs from the environment, probed lazily.

Like tests/_services.py: an absent service skips its tests, or fails them when
``STEADYFLOW_REQUIRE_SERVICES=1`` (CI, where .ci/services.sh starts both).
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from _services import unavailable

ZOOKEEPER_URL_ENV = "STEADYFLOW_TEST_ZOOKEEPER_URL"
ETCD_URL_ENV = "STEADYFLOW_TEST_ETCD_URL"
DEFAULT_ZOOKEEPER_URL = "zookeeper://127.0.0.1:2181/steadyflow-test"
DEFAULT_ETCD_URL = "etcd://127.0.0.1:2379/steadyflow-test"
PROBE_TIMEOUT_S = 2.0
SERVICES_SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "services.sh"


def zookeeper_url() -> str:
    return os.environ.get(ZOOKEEPER_URL_ENV, DEFAULT_ZOOKEEPER_URL)


def etcd_url() -> str:
    return os.environ.get(ETCD_URL_ENV, DEFAULT_ETCD_URL)


def zookeeper_answers(url: str | None = None) -> bool:
    """True when ZooKeeper says "imok" to "ruok"."""
    parts = urlsplit(url or zookeeper_url())
    host, _, port = parts.netloc.split(",")[0].partition(":")
    try:
        with socket.create_connection((host, int(port or 2181)), PROBE_TIMEOUT_S) as sock:
            sock.sendall(b"ruok")
            return sock.recv(16) == b"imok"
    except OSError:
        return False


def etcd_answers(url: str | None = None) -> bool:
    """True when etcd's /health says it is healthy."""
    parts = urlsplit(url or etcd_url())
    try:
        with urllib.request.urlopen(
            f"http://{parts.netloc}/health", timeout=PROBE_TIMEOUT_S
        ) as reply:
            return b'"health":"true"' in reply.read()
    except OSError:
        return False


@functools.cache
def probe(service: str) -> str | None:
    """None when ``service`` ("zookeeper" or "etcd") answers, else why not."""
    driver = "kazoo" if service == "zookeeper" else "etcd3gw"
    try:
        __import__(driver)
    except ImportError as exc:
        return f"{service} client not installed: {exc}"
    url = zookeeper_url() if service == "zookeeper" else etcd_url()
    answers = zookeeper_answers if service == "zookeeper" else etcd_answers
    return None if answers(url) else f"{service} not answering at {url}"


def require(service: str) -> None:
    reason = probe(service)
    if reason is not None:
        unavailable(reason)


def restart_service(service: str) -> None:
    """Stop ``service`` and start it again through .ci/services.sh (waits until it answers)."""
    subprocess.run(["sh", str(SERVICES_SCRIPT), "stop", service], check=True, timeout=60)
    subprocess.run(["sh", str(SERVICES_SCRIPT), "start", service], check=True, timeout=120)


def stop_service(service: str) -> None:
    subprocess.run(["sh", str(SERVICES_SCRIPT), "stop", service], check=True, timeout=60)


def start_service(service: str) -> None:
    subprocess.run(["sh", str(SERVICES_SCRIPT), "start", service], check=True, timeout=120)


def started_by_script(service: str) -> bool:
    """True when .ci/services.sh started ``service`` (so a test may restart it)."""
    return Path(f"/run/steadyflow-ci/{service}.pid").exists()

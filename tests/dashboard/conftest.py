"""Fixtures for the dashboard tests: a live server on a free loopback port, and Chromium.

The browser is Debian's ``/usr/bin/chromium`` driven by Playwright; Playwright
never downloads one. Without it the browser tests skip, unless
``STEADYFLOW_REQUIRE_SERVICES=1`` (CI, whose ``.ci/run`` installs it).
Screenshots go to ``$STEADYFLOW_SCREENSHOTS`` when set, else to a pytest
temporary directory.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import _services

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from steadyflow.persistence.base import Backend

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS_ENV = "STEADYFLOW_SCREENSHOTS"

pytest.importorskip("starlette", reason="the dashboard extra is not installed")
pytest.importorskip("uvicorn", reason="the dashboard extra is not installed")


@contextmanager
def serve(backend: Backend, **options: Any) -> Iterator[str]:
    """Run the dashboard over ``backend`` on a free loopback port; yields its base URL."""
    import uvicorn

    from steadyflow.dashboard import create_app

    app = create_app(backend, **options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.stop_streams()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def dashboard() -> Callable[..., Any]:
    """``with dashboard(backend, allow_actions=True) as url:`` starts a live dashboard."""
    return serve


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium under Playwright (never a downloaded browser).

    Module-scoped: Playwright's sync API keeps an event loop running on the
    main thread while it is open, and tests elsewhere call asyncio.run().
    """
    if not os.path.exists(CHROMIUM):
        _services.unavailable(f"no {CHROMIUM}: apt-get install chromium (.ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser page (its own cookies), recording any script run by a page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests save screenshots of the pages they drive."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder

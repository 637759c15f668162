"""Fixtures for the browser tests: a real server, a fake backend, a page origin, a driver.

Each test runs in Chromium, Firefox and WebKit (the ``engine`` fixture); WebKit is WebKitGTK's
MiniBrowser under WebKitWebDriver and its own Xvfb (``webkit.mjs``).
The page is served from an origin of its own, as a web app's would be, and
loads ``incoming.js`` from the Incoming!! server.
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test.integration.conftest import _time_limit, backend, make_module_server  # noqa: F401
from test.support.backend import BackendAPI
from test.support.server import IncomingServer

HERE = Path(__file__).parent
ENGINES = ["chromium", "firefox", "webkit"]
OPTIONS = {"handover_max_delay": "200ms", "handover_attempt_timeout": "5s",
           "handover_timeout": "60s"}


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def server(make_module_server: Any) -> IncomingServer:  # noqa: F811 (a fixture)
    return make_module_server(**OPTIONS)


@pytest.fixture(scope="module")
def api(server: IncomingServer) -> BackendAPI:
    return BackendAPI(server.api_url)


@pytest.fixture(scope="session")
def page_url() -> Iterator[str]:
    """The test page, from a plain static server on its own port."""
    handler = functools.partial(_QuietHandler, directory=str(HERE / "pages"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/index.html"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


_running: list[subprocess.Popen[str]] = []
"""driver.mjs processes not yet collected: stopped after each test, whatever happened."""


@pytest.fixture(autouse=True)
def _stop_drivers() -> Iterator[None]:
    yield
    while _running:
        stop_driver(_running.pop())


def stop_driver(process: subprocess.Popen[str]) -> None:
    """SIGTERM lets driver.mjs close its browser (and WebKit's Xvfb and driver); then SIGKILL."""
    if process.poll() is None:
        process.terminate()
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


class Browser:
    """Starts driver.mjs for one scenario; the test may act while it runs, then collect it."""

    def __init__(self, engine: str, page_url: str, server: IncomingServer) -> None:
        self.engine = engine
        self.page_url = page_url
        self.server = server

    def start(self, uploads: list[dict[str, Any]], upload_host: str | None = None,
              timeout: float = 60.0, **more: Any) -> subprocess.Popen[str]:
        """``more``: further driver parameters (``reload={...}``, see driver.mjs)."""
        params = {"libraryUrl": f"{self.server.base_url}/incoming/0.1/frontend/incoming.js",
                  "uploadHost": upload_host, "uploads": uploads, "timeoutMs": timeout * 1000,
                  **more}
        process = subprocess.Popen(
            ["node", str(HERE / "driver.mjs"), self.engine, self.page_url, json.dumps(params)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _running.append(process)
        return process

    def run(self, uploads: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
        return self.collect(self.start(uploads, **kwargs))

    @staticmethod
    def collect(process: subprocess.Popen[str], timeout: float = 120.0) -> list[dict[str, Any]]:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_driver(process)
            raise
        if process in _running:
            _running.remove(process)
        assert process.returncode == 0, f"browser driver failed:\n{err[-4000:]}"
        return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def browser(engine: str, page_url: str, server: IncomingServer) -> Browser:
    return Browser(engine, page_url, server)

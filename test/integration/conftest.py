"""Fixtures for the integration tests: real servers, a fake backend, an API client.

The logic lives in :mod:`test.support.server` and :mod:`test.support.backend`,
so the browser tests' conftest can import the same pieces.

A module gets one server for all its tests (``server``), started with
:data:`FAST_OPTIONS` plus whatever its own ``server_options`` fixture returns;
tests that need a server of their own use ``make_server``. Every test is
bounded in time (``@pytest.mark.time_limit(seconds)`` to change the default).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from test.support.backend import BackendAPI, FakeBackend
from test.support.redis_server import RedisServer, redis_factory
from test.support.server import IncomingServer, server_factory

DEFAULT_TIME_LIMIT = 60

FAST_OPTIONS = {
    "handover_max_delay": "200ms",
    "handover_attempt_timeout": "2s",
    "handover_timeout": "30s",
    "idle_timeout": "30s",
}
"""Retries after 200 ms instead of seconds, so handovers that fail once finish quickly."""


class TimeLimitExceeded(Exception):
    """Not a TimeoutError, so that no test mistakes it for a socket timeout it expects."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "time_limit(seconds): fail the test after this long")


@pytest.fixture(autouse=True)
def _time_limit(request: pytest.FixtureRequest) -> Iterator[None]:
    """No test runs forever: SIGALRM interrupts it (blocking socket reads included)."""
    marker = request.node.get_closest_marker("time_limit")
    seconds = int(marker.args[0]) if marker else DEFAULT_TIME_LIMIT

    def expired(signum: int, frame: Any) -> None:
        raise TimeLimitExceeded(f"test took longer than its time limit of {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def make_server(tmp_path: Any) -> Iterator[Callable[..., IncomingServer]]:
    """Starts servers for one test; each must exit cleanly on SIGTERM at the end."""
    with server_factory(tmp_path / "servers") as make:
        yield make


@pytest.fixture(scope="module")
def make_module_server(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., IncomingServer]]:
    with server_factory(tmp_path_factory.mktemp("servers")) as make:
        yield make


@pytest.fixture(scope="module")
def server_options() -> dict[str, Any]:
    """Override in a test module to start its shared server with other options."""
    return {}


@pytest.fixture(scope="module")
def server(make_module_server: Callable[..., IncomingServer],
           server_options: dict[str, Any]) -> IncomingServer:
    """One server shared by the tests of a module (each test uses its own tickets)."""
    return make_module_server(**{**FAST_OPTIONS, **server_options})


@pytest.fixture(scope="module")
def api(server: IncomingServer) -> BackendAPI:
    return BackendAPI(server.api_url)


@pytest.fixture(scope="module")
def backend() -> Iterator[FakeBackend]:
    """A fake web-app backend shared by a module (answers are scripted per ticket)."""
    with FakeBackend() as fake:
        yield fake


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server of the module's own, on a free port (state shared by instances)."""
    with redis_factory(tmp_path_factory.mktemp("redis")) as make:
        yield make()

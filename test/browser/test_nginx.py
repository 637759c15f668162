"""Chromium uploads with incoming.js through etc/nginx/incoming-cluster.conf (Debian's nginx)
into a real twistd, over both data paths: the library is loaded through nginx, so its uploads
go there too."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest

from test.browser.conftest import Browser
from test.support.backend import BackendAPI, FakeBackend
from test.support.nginx import CLUSTER_CONF, NginxFront, upstreams_for
from test.support.server import IncomingServer

MiB = 1 << 20

pytestmark = pytest.mark.time_limit(90)


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory,
          server: IncomingServer) -> Iterator[NginxFront]:
    with NginxFront(tmp_path_factory.mktemp("nginx"), CLUSTER_CONF,
                    upstreams_for([server])) as running:
        yield running


def test_chromium_uploads_through_nginx_over_http_and_websocket(
        page_url: str, front: NginxFront, api: BackendAPI, backend: FakeBackend) -> None:
    """Two files at once, one per data path: each stored byte-identical (the page's SHA-256 is
    the stored file's), the backend hears both, and nginx carried the PATCHes and the WebSocket."""
    through_nginx: Any = types.SimpleNamespace(base_url=front.url)
    browser = Browser("chromium", page_url, through_nginx)
    tickets = [api.new_upload(backend.callback_url()) for _ in range(2)]
    results = browser.run([
        {"ticket": tickets[0], "size": 24 * MiB + 5, "name": "h.bin", "transport": "http"},
        {"ticket": tickets[1], "size": 16 * MiB + 9, "name": "w.bin", "transport": "websocket"}])
    for ticket, result in zip(tickets, results, strict=True):
        assert result["outcome"] == "finished", result
        assert result["librarySha256"] == result["sha256"]
        [callback] = backend.wait_for_callbacks(ticket)
        assert callback.file_sha256 == result["sha256"]
    assert [r["transport"] for r in results] == ["http", "websocket"]
    assert f'"PATCH /incoming/0.1/tus/{tickets[0]}' in front.access_log
    assert '"GET /incoming/0.1/frontend/upload_ws' in front.access_log

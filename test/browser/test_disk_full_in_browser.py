"""A full disk as a user sees it, in real Chromium, Firefox and WebKit: the page shows why the
upload waits (error 21 while the library retries), and once space is free the upload completes
by itself, byte-identical."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from test.browser.conftest import OPTIONS, Browser
from test.integration.conftest import make_server  # noqa: F401 (a fixture)
from test.support.backend import BackendAPI, FakeBackend
from test.support.server import wait_until
from test.support.tmpfs import fill, mounted_tmpfs

MiB = 1 << 20

pytestmark = pytest.mark.time_limit(120)


def test_a_full_disk_shows_on_the_page_and_the_upload_completes_once_space_is_free(
        tmp_path: Path, make_server: Any, engine: str, page_url: str,  # noqa: F811
        backend: FakeBackend) -> None:
    """With the storage (and the ticket database) on a tmpfs that fills up, the page sees
    error 21 while the library retries; after space is freed the file arrives intact."""
    with mounted_tmpfs(tmp_path / "disk", size="12m") as disk:
        server = make_server(options={**OPTIONS, "storage_dir": str(disk / "storage")})
        ticket = BackendAPI(server.api_url).new_upload(backend.callback_url(),
                                                       backend_secret="app-secret")
        filler = disk / "filler"
        fill(filler, leave=2 * MiB)
        browser = Browser(engine, page_url, server)
        running = browser.start([{"ticket": ticket, "size": 6 * MiB, "name": "big.bin"}],
                                timeout=90)
        wait_until(lambda: "storage_full" in server.log, 30,
                   message="the server to run out of space")
        filler.unlink()
        [result] = browser.collect(running, timeout=100)
        server.stop()
    assert result["outcome"] == "finished", result
    assert 21 in result["retryErrors"], result["retryErrors"]
    assert result["error_code"] is None  # cleared once bytes flowed again
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.file_sha256 == result["sha256"]

"""The browser library in real Chromium, Firefox and WebKit against a real server and backend.

Every test runs in all three engines. The page is served from its own origin and
loads ``incoming.js`` from the server with a script tag, as a web app's would.
"""

from __future__ import annotations

import time

import pytest

from test.support.backend import BackendAPI, FakeBackend
from test.support.proxy import CuttableProxy
from test.support.server import wait_until

MiB = 1 << 20

pytestmark = pytest.mark.time_limit(150)


def ticket(api: BackendAPI, backend: FakeBackend, **options: object) -> str:
    return api.new_upload(backend.callback_url(), backend_secret="app-secret", **options)


def bytes_received(api: BackendAPI, ticket_id: str) -> int:
    return api.upload_status(ticket_id, "app-secret")["bytesReceived"]


def test_several_files_upload_at_once_and_reach_the_backend(browser, api, backend, server):
    """Three uploads from one page finish; the backend gets each file with the page's SHA-256."""
    sizes = [6 * MiB + 123, MiB, 0]
    tickets = [ticket(api, backend) for _ in sizes]
    results = browser.run([{"ticket": t, "size": s, "name": f"file-{i}.bin"}
                           for i, (t, s) in enumerate(zip(tickets, sizes, strict=True))])
    for ticket_id, size, result in zip(tickets, sizes, results, strict=True):
        assert result["outcome"] == "finished", result
        assert (result["bytes_acked"], result["frac_complete"]) == (size, 1)
        callback = backend.callbacks_for(ticket_id)[0]
        assert callback.form["sha256"] == result["sha256"] == callback.file_sha256
        assert callback.form["filenameFromBrowser"] == result["filename"]
        assert int(callback.form["size"]) == size and callback.file_existed
        assert not server.complete_path(ticket_id).exists()  # removeFileWhenFinished
        assert result["states"][-1] == "finished"
        # onprogress is throttled to about ten calls a second (plus the last byte).
        assert 1 <= result["progressCalls"] <= 10 * result["seconds"] + 3


def test_wait_then_finish_upload_tells_the_page_only_at_the_end(browser, api, backend, server):
    """After wait the page shows waiting for the backend; it finishes only on finish_upload."""
    ticket_id = ticket(api, backend)
    backend.answer(ticket_id, "wait")
    running = browser.start([{"ticket": ticket_id, "size": 2 * MiB, "name": "w.bin"}])
    backend.wait_for_callbacks(ticket_id, timeout=60)
    wait_until(lambda: api.upload_status(ticket_id, "app-secret")["state"]
               == "waiting_for_backend", timeout=10)
    time.sleep(0.5)
    assert running.poll() is None, "the page finished before finish_upload"
    assert api.finish_upload(ticket_id, "app-secret") == "ok"
    [result] = browser.collect(running)
    assert result["outcome"] == "finished"
    assert result["states"][-2:] == ["waiting for backend", "finished"]


def test_cancel_from_the_page_reaches_the_backend(browser, api, backend, server):
    """uploader.cancel(reason): the page hears cancelled, the backend gets cancelled=yes."""
    ticket_id = ticket(api, backend)
    # Slow enough that the cancel overtakes the bytes the browser has queued (≤ 8 MiB).
    with CuttableProxy(server.port, rate=4 * MiB) as slow:
        [result] = browser.run([{"ticket": ticket_id, "size": 32 * MiB, "name": "c.bin",
                                 "cancelAfterMs": 1000, "cancelReason": "user changed mind"}],
                               upload_host=f"127.0.0.1:{slow.port}")
    assert result["outcome"] == "cancelled" and result["cancelled"]
    [callback] = backend.wait_for_callbacks(ticket_id, where=lambda c: c.cancelled)
    assert callback.form["cancelReason"] == "user changed mind"
    assert not server.partial_path(ticket_id).exists()


def test_cancel_from_the_backend_reaches_the_page(browser, api, backend, server):
    """cancel_upload while the page uploads: the page's oncancelled fires."""
    ticket_id = ticket(api, backend)
    with CuttableProxy(server.port, rate=4 * MiB) as slow:
        running = browser.start([{"ticket": ticket_id, "size": 16 * MiB, "name": "b.bin"}],
                                upload_host=f"127.0.0.1:{slow.port}")
        wait_until(lambda: bytes_received(api, ticket_id) > 0, timeout=30)
        api.cancel_upload(ticket_id, "app-secret")
        [result] = browser.collect(running)
    assert result["outcome"] == "cancelled" and result["cancel_msg"], (
        result["error_code"], result["error_msg"], result["states"])
    assert backend.wait_for_callbacks(ticket_id, where=lambda c: c.cancelled)


def test_pause_holds_the_upload_and_unpause_finishes_it(browser, api, backend, server):
    """While paused no byte arrives and the server says paused; after unpause it finishes."""
    ticket_id = ticket(api, backend)
    # The pause reaches the server behind the bytes the browser has queued (≤ 8 MiB): at
    # 8 MiB/s, within about two seconds, and the page stays paused for five.
    with CuttableProxy(server.port, rate=8 * MiB) as slow:
        # The WebSocket's pause message (the HTTP path's pause: test_http_path.py).
        running = browser.start([{"ticket": ticket_id, "size": 48 * MiB, "name": "p.bin",
                                  "pauseAfterMs": 800, "pauseForMs": 5000,
                                  "transport": "websocket"}],
                                upload_host=f"127.0.0.1:{slow.port}")
        wait_until(lambda: api.upload_status(ticket_id, "app-secret")["state"] == "paused",
                   timeout=30)
        time.sleep(0.5)  # bytes that arrived before the pause are still landing on disk
        held = bytes_received(api, ticket_id)
        time.sleep(1)
        assert bytes_received(api, ticket_id) == held
        [result] = browser.collect(running)
    assert result["outcome"] == "finished"
    assert result["pausedFlag"] is True
    assert result["pausedAcked"] == result["resumedAcked"] < 48 * MiB
    assert backend.callbacks_for(ticket_id)[0].form["sha256"] == result["sha256"]


def test_upload_survives_its_connection_being_cut_twice(browser, api, backend, server):
    """Cut mid-transfer twice, the library reconnects by itself and the file arrives whole."""
    ticket_id = ticket(api, backend)
    size = 24 * MiB
    with CuttableProxy(server.port, rate=8 * MiB) as proxy:
        running = browser.start([{"ticket": ticket_id, "size": size, "name": "cut.bin",
                                  "transport": "websocket"}],  # HTTP: test_http_path.py
                                upload_host=f"127.0.0.1:{proxy.port}")
        for fraction in (0.25, 0.6):
            wait_until(lambda f=fraction: bytes_received(api, ticket_id) >= f * size, timeout=30)
            assert proxy.cut() == 1
        [result] = browser.collect(running)
        assert proxy.accepted >= 3
    assert result["outcome"] == "finished", result
    assert result["reconnects"] >= 2
    callback = backend.callbacks_for(ticket_id)[0]
    assert callback.form["sha256"] == result["sha256"] == callback.file_sha256

"""The library's HTTP data path (tus PATCH requests whose bodies are Blob slices) in Chromium,
Firefox and WebKit, forced with ``transport: 'http'`` (it is the default only in Chromium), and
which path ``transport: 'auto'`` takes in each engine."""

from __future__ import annotations

import pytest

from test.support.backend import BackendAPI, FakeBackend, json_answer
from test.support.proxy import CuttableProxy
from test.support.server import wait_until

MiB = 1 << 20
HTTP = {"transport": "http"}

pytestmark = pytest.mark.time_limit(90)


def ticket(api: BackendAPI, backend: FakeBackend) -> str:
    return api.new_upload(backend.callback_url(), backend_secret="app-secret")


def test_http_upload_with_result_and_auto_picks_the_engines_path(browser, api, backend):
    """Forced HTTP: the file arrives with the page's SHA-256 and the result reaches the page;
    beside it, 'auto' takes HTTP in Chromium and the WebSocket in Firefox and WebKit."""
    forced, auto = ticket(api, backend), ticket(api, backend)
    backend.answer(forced, json_answer({"state": "done", "result": {"url": "/photos/7"}}))
    results = browser.run([{"ticket": forced, "size": 6 * MiB + 123, "name": "h.bin", **HTTP},
                           {"ticket": auto, "size": MiB, "name": "a.bin"}])
    for result in results:
        assert result["outcome"] == "finished", result
        assert result["librarySha256"] == result["sha256"]
    assert results[0]["transport"] == "http"
    assert results[0]["backendResult"] == {"url": "/photos/7"}
    assert results[0]["states"][-1] == "finished"
    assert results[1]["transport"] == ("http" if browser.engine == "chromium" else "websocket")
    for ticket_id, result in zip((forced, auto), results, strict=True):
        assert backend.callbacks_for(ticket_id)[0].file_sha256 == result["sha256"]


def test_http_upload_survives_two_cuts(browser, api, backend, server):
    """Requests cut mid-body twice: the library asks HEAD where to go on and finishes."""
    ticket_id = ticket(api, backend)
    size = 12 * MiB
    with CuttableProxy(server.port, rate=8 * MiB) as proxy:
        running = browser.start([{"ticket": ticket_id, "size": size, "name": "cut.bin", **HTTP}],
                                upload_host=f"127.0.0.1:{proxy.port}")
        for fraction in (0.25, 0.6):
            wait_until(lambda f=fraction: api.upload_status(ticket_id, "app-secret")
                       ["bytesReceived"] >= f * size, timeout=30)
            assert proxy.cut() >= 1
        [result] = browser.collect(running)
        accepted = proxy.accepted
    assert result["outcome"] == "finished", result
    # A cut between requests may go unnoticed: the browser retries on a fresh connection.
    assert result["reconnects"] >= 1 and accepted >= 3
    assert backend.callbacks_for(ticket_id)[0].file_sha256 == result["sha256"]


def test_http_pause_holds_within_a_second_of_bytes_then_finishes(browser, api, backend, server):
    """pause() aborts the request under way: the acknowledged offset stops; unpause finishes."""
    ticket_id = ticket(api, backend)
    rate = 8_000_000
    with CuttableProxy(server.port, rate=rate) as slow:
        [result] = browser.run([{"ticket": ticket_id, "size": 3 * rate, "name": "p.bin",
                                 "pauseAfterMs": 1200, "pauseForMs": 2000, **HTTP}],
                               upload_host=f"127.0.0.1:{slow.port}", timeout=40)
    assert result["outcome"] == "finished", result
    assert 0.4 * rate < result["rateAtPause"] < 1.5 * rate
    assert result["pausedAcked"] - result["ackedAtPause"] <= rate
    assert result["pausedAcked"] == result["resumedAcked"] < 3 * rate
    assert backend.callbacks_for(ticket_id)[0].file_sha256 == result["sha256"]


def test_http_cancel_reaches_the_backend(browser, api, backend, server):
    """cancel(reason) on the HTTP path: DELETE, the page hears cancelled, the backend too."""
    ticket_id = ticket(api, backend)
    with CuttableProxy(server.port, rate=4 * MiB) as slow:
        [result] = browser.run([{"ticket": ticket_id, "size": 16 * MiB, "name": "c.bin",
                                 "cancelAfterMs": 800, "cancelReason": "changed mind", **HTTP}],
                               upload_host=f"127.0.0.1:{slow.port}")
    assert result["outcome"] == "cancelled", result
    [callback] = backend.wait_for_callbacks(ticket_id, where=lambda c: c.cancelled)
    assert callback.form["cancelReason"] == "changed mind"
    assert not server.partial_path(ticket_id).exists()


def test_http_flipped_byte_ends_with_error_20(browser, api, backend, server):
    """One bit of a PATCH body changed in transit: the page hears 20, nothing is stored."""
    ticket_id = ticket(api, backend)
    # Early: WebKit spreads requests over connections, and the flip counts one connection's bytes.
    with CuttableProxy(server.port, flip_at=700_000) as damaging:
        [result] = browser.run([{"ticket": ticket_id, "size": 6 * MiB, "name": "flip.bin",
                                 **HTTP}], upload_host=f"127.0.0.1:{damaging.port}", timeout=30)
        assert damaging.flipped == 1
    assert result["outcome"] == "error", result
    assert result["error_code"] == 20, (result["error_code"], result["error_msg"])
    assert backend.wait_for_callbacks(ticket_id, where=lambda c: c.cancelled)
    assert not server.complete_path(ticket_id).exists()

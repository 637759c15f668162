"""The integrity wave in real Chromium, Firefox and WebKit: end-to-end SHA-256, resume after a
reload, pause within a second's worth of bytes, the backend's result on the page.

The digest, result and error 20 tests need the server side of the same protocol
(``docs/protocol.rst``: ``integrity``, ``digest``, ``result``, error 20).
"""

from __future__ import annotations

import hashlib
import os

import pytest

from test.support.backend import BackendAPI, FakeBackend, json_answer
from test.support.proxy import CuttableProxy

MiB = 1 << 20

pytestmark = pytest.mark.time_limit(120)


def ticket(api: BackendAPI, backend: FakeBackend) -> str:
    return api.new_upload(backend.callback_url(), backend_secret="app-secret")


def test_the_backend_result_reaches_uploader_result(browser, api, backend):
    """A JSON answer with a result: the page has it on uploader.result when onfinished runs."""
    ticket_id = ticket(api, backend)
    backend.answer(ticket_id, json_answer({"state": "done", "result": {"url": "/photos/42",
                                                                        "n": [1, 2]}}))
    [result] = browser.run([{"ticket": ticket_id, "size": MiB + 3, "name": "r.bin"}])
    assert result["outcome"] == "finished", result
    assert result["backendResult"] == {"url": "/photos/42", "n": [1, 2]}


def test_the_library_hashes_the_file_and_the_server_agrees(browser, api, backend):
    """The digest the page computed (in its Worker) is the file's; the server stores the file."""
    ticket_id = ticket(api, backend)
    [result] = browser.run([{"ticket": ticket_id, "size": 5 * MiB + 77, "name": "h.bin"}])
    assert result["outcome"] == "finished", result
    assert result["librarySha256"] == result["sha256"]  # WebCrypto's, over the whole file
    assert backend.callbacks_for(ticket_id)[0].file_sha256 == result["sha256"]


def test_a_byte_flipped_on_the_way_ends_with_error_20_and_the_backend_hears_cancelled(
        browser, api, backend, server):
    """One bit of the upload stream changed in transit: no file is stored, the page hears 20."""
    ticket_id = ticket(api, backend)
    with CuttableProxy(server.port, flip_at=3 * MiB + 12345) as damaging:
        [result] = browser.run([{"ticket": ticket_id, "size": 6 * MiB, "name": "flip.bin"}],
                               upload_host=f"127.0.0.1:{damaging.port}", timeout=30)
        assert damaging.flipped == 1
    assert result["outcome"] == "error", result
    assert result["error_code"] == 20, (result["error_code"], result["error_msg"])
    [callback] = backend.wait_for_callbacks(ticket_id, where=lambda c: c.cancelled)
    assert not server.complete_path(ticket_id).exists()


@pytest.mark.parametrize("rate", [1_000_000, 8_000_000], ids=["1MBps", "8MBps"])
def test_pause_stops_the_acknowledged_offset_within_a_second_of_bytes(browser, api, backend,
                                                                      server, rate):
    """After pause() the server acknowledges at most about one second's worth of the rate."""
    ticket_id = ticket(api, backend)
    size = int(rate * 7)
    with CuttableProxy(server.port, rate=rate) as slow:
        [result] = browser.run([{"ticket": ticket_id, "size": size, "name": "slow.bin",
                                 "pauseAfterMs": 3000, "pauseForMs": 3000}],
                               upload_host=f"127.0.0.1:{slow.port}", timeout=60)
    assert result["outcome"] == "finished", result
    moved = result["pausedAcked"] - result["ackedAtPause"]
    print(f"\n{browser.engine} at {rate / 1e6:g} MB/s: measured {result['rateAtPause'] / 1e6:.2f}"
          f" MB/s, {result['aheadAtPause']} bytes in flight at pause, acknowledged offset moved"
          f" {moved} bytes after pause")
    assert 0.5 * rate < result["rateAtPause"] < 1.5 * rate
    assert moved <= rate  # one second's worth
    assert result["pausedAcked"] == result["resumedAcked"]  # and then nothing
    assert backend.callbacks_for(ticket_id)[0].file_sha256 == result["sha256"]


def test_reload_mid_upload_then_find_resumable_and_finish(browser, api, backend, server,
                                                           tmp_path):
    """Reload the page mid-upload: findResumable finds the ticket, the upload finishes whole."""
    data = os.urandom(6 * MiB + 1234)
    path = tmp_path / f"reload-{browser.engine}.bin"
    path.write_bytes(data)
    ticket_id = ticket(api, backend)
    with CuttableProxy(server.port, rate=2 * MiB) as slow:
        done = browser.run([], upload_host=f"127.0.0.1:{slow.port}", timeout=40,
                           reload={"path": str(path), "ticket": ticket_id, "stopAtBytes": 2 * MiB})
    before, after = done["before"], done["after"]
    assert before["bytes_acked"] >= 2 * MiB and not before["finished"], before
    assert before["remembered"]["ticket"] == ticket_id
    assert after["found"]["ticket"] == ticket_id
    assert after["found"]["bytes_acked"] <= before["bytes_acked"]
    assert after["outcome"] == "finished", after
    # resumed, not restarted:
    assert after["firstAcked"] is not None and after["firstAcked"] >= 2 * MiB
    assert after["rememberedAfter"] is None  # forgotten once finished
    callback = backend.callbacks_for(ticket_id)[0]
    assert callback.file_sha256 == hashlib.sha256(data).hexdigest()
    assert int(callback.form["size"]) == len(data)

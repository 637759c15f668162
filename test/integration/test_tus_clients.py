"""Unmodified tus clients against a real ``twistd``: tus-js-client (Node.js) and tuspy."""

from __future__ import annotations

import io
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from tusclient import client as tus_client

from test.integration.wsupload import make_data, sha256, upload
from test.support.backend import BackendAPI, FakeBackend
from test.support.proxy import CuttableProxy
from test.support.server import IncomingServer, wait_until

MiB = 1 << 20
SCRIPT = Path(__file__).parent.parent / "support" / "tus_upload.mjs"
TUS = "/incoming/0.1/tus/"
SAME_FOR_EVERY_FACE = ("size", "sha256", "filenameFromBrowser", "cancelled", "cancelReason",
                       "backendSecret")


def node_upload(tmp_path: Path, endpoint: str, ticket: str, data: bytes,
                **options: Any) -> dict[str, Any]:
    """One run of tus-js-client; what it printed."""
    path = tmp_path / f"upload-{ticket[:8]}.bin"
    path.write_bytes(data)
    params = {"endpoint": endpoint, "ticket": ticket, "file": str(path), **options}
    done = subprocess.run(["node", str(SCRIPT), json.dumps(params)], capture_output=True,
                          text=True, timeout=40)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tus_js_client_uploads_and_the_backend_hears_what_our_library_gives(
        tmp_path: Path, server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """tus-js-client uploads a file; the callback carries the same values as for the same file
    uploaded over the WebSocket, and upload_status says finished."""
    data = make_data(3 * MiB + 17, seed=41)
    ticket = api.new_upload(backend.callback_url(), backend_secret="s3cret-value")
    result = node_upload(tmp_path, server.base_url + TUS, ticket, data, filename="test.bin")
    assert result["outcome"] == "success", result
    assert result["url"].endswith(TUS + ticket)
    [by_tus] = backend.wait_for_callbacks(ticket)

    ours = api.new_upload(backend.callback_url(), backend_secret="s3cret-value")
    upload(server, ours, data, "test.bin")
    [by_websocket] = backend.wait_for_callbacks(ours)
    assert set(by_tus.form) == set(by_websocket.form)
    for name in SAME_FOR_EVERY_FACE:
        assert by_tus.form[name] == by_websocket.form[name], name
    assert by_tus.form["sha256"] == sha256(data) and by_tus.file_sha256 == sha256(data)
    assert by_tus.form["cancelled"] == "no"
    assert wait_until(lambda: api.upload_status(ticket, "s3cret-value")["state"] == "finished",
                      10)


def test_tus_js_client_resumes_after_its_connection_is_cut(
        tmp_path: Path, server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """Through a proxy that is cut in the middle, tus-js-client retries (HEAD, then PATCH from
    the server's offset) and the file arrives whole."""
    data = make_data(6 * MiB, seed=42)
    ticket = api.new_upload(backend.callback_url())
    assert server.port is not None
    with CuttableProxy(server.port, rate=4 * MiB) as proxy:
        def cut_when_halfway() -> None:
            wait_until(lambda: api.upload_status(ticket)["bytesReceived"] > 2 * MiB, 20)
            proxy.cut()
        cutter = threading.Thread(target=cut_when_halfway, daemon=True)
        cutter.start()
        result = node_upload(tmp_path, f"http://127.0.0.1:{proxy.port}{TUS}", ticket, data)
        cutter.join(5)
        assert result["outcome"] == "success", result
        assert proxy.cuts >= 1 and proxy.accepted >= 2
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)


def test_tus_js_client_resumes_from_the_stored_url(
        tmp_path: Path, server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """Aborted after some chunks, a new tus-js-client run with the upload URL resumes where
    the server is (not from 0) and completes the file."""
    data = make_data(2 * MiB + 5, seed=43)
    ticket = api.new_upload(backend.callback_url())
    endpoint = server.base_url + TUS
    first = node_upload(tmp_path, endpoint, ticket, data, chunkSize=256 * 1024,
                        abortAt=MiB)
    assert first["outcome"] == "aborted", first
    stored = api.upload_status(ticket)["bytesReceived"]
    assert stored >= MiB
    second = node_upload(tmp_path, endpoint, ticket, data, uploadUrl=first["url"],
                         chunkSize=256 * 1024)
    assert second["outcome"] == "success", second
    assert second["acknowledged"][0] > stored  # the first PATCH went on from the stored offset
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)


def test_tus_js_client_termination_cancels_the_ticket(
        tmp_path: Path, server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """abort(true) sends DELETE: the ticket is cancelled by the frontend, and the backend's
    callback says cancelled=yes."""
    data = make_data(2 * MiB, seed=44)
    ticket = api.new_upload(backend.callback_url())
    result = node_upload(tmp_path, server.base_url + TUS, ticket, data, chunkSize=256 * 1024,
                         terminateAt=512 * 1024)
    assert result["outcome"] == "terminated", result
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["cancelled"] == "yes"
    status = api.upload_status(ticket)
    assert (status["state"], status["cancelledBy"]) == ("cancelled", "frontend")


@pytest.mark.parametrize("ticket, status", [("no-such-ticket", 404), ("", 400)])
def test_tus_js_client_with_a_wrong_ticket_fails_with_a_clear_status(
        tmp_path: Path, server: IncomingServer, ticket: str, status: int) -> None:
    """An unknown ticket is 404, a missing one 400; tus-js-client reports it and stops."""
    result = node_upload(tmp_path, server.base_url + TUS, ticket, b"x" * 1000)
    assert result["outcome"] == "error", result
    assert result["status"] == status and "ticket" in result["body"]


def test_tuspy_uploads_with_checksums(server: IncomingServer, api: BackendAPI,
                                      backend: FakeBackend) -> None:
    """tuspy uploads in chunks with sha1 checksums; the backend gets the whole file."""
    data = make_data(MiB + 3, seed=45)
    ticket = api.new_upload(backend.callback_url())
    client = tus_client.TusClient(server.base_url + TUS)
    uploader = client.uploader(file_stream=io.BytesIO(data), chunk_size=256 * 1024,
                               metadata={"ticket": ticket, "filename": "py.bin"},
                               upload_checksum=True, retries=2, retry_delay=0.2)
    uploader.upload()
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)
    assert callback.form["filenameFromBrowser"] == "py.bin"


def test_tuspy_resumes_an_interrupted_upload(server: IncomingServer, api: BackendAPI,
                                             backend: FakeBackend) -> None:
    """tuspy stops after two chunks; a new uploader at the same URL asks the offset (HEAD) and
    finishes the file."""
    data = make_data(MiB + 7, seed=46)
    ticket = api.new_upload(backend.callback_url())
    client = tus_client.TusClient(server.base_url + TUS)
    first = client.uploader(file_stream=io.BytesIO(data), chunk_size=256 * 1024,
                            metadata={"ticket": ticket, "filename": "py.bin"})
    first.upload_chunk()
    first.upload_chunk()
    assert api.upload_status(ticket)["bytesReceived"] == 512 * 1024
    second = client.uploader(file_stream=io.BytesIO(data), url=first.url,
                             chunk_size=256 * 1024)
    assert second.offset == 512 * 1024
    second.upload()
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)

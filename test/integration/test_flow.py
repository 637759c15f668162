"""The whole life of an upload against a real server and a real (fake) backend over HTTP."""

from __future__ import annotations

import concurrent.futures
import os
import time

import pytest

from test.support.backend import WAIT, BackendAPI, FakeBackend
from test.support.server import IncomingServer, wait_until
from test.integration.wsupload import Connection, make_data, sha256, upload

MiB = 1 << 20


def test_whole_flow_hands_over_the_stored_file_and_removes_it(
        server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """An upload in chunks is acknowledged, stored, handed over with the right form values, and
    removed."""
    data = make_data(3 * MiB + 12345, seed=1)
    ticket = api.new_upload(backend.callback_url("/done"), backend_secret="s3cret")
    assert api.upload_status(ticket, "s3cret")["state"] == "created"

    conn = Connection(server)
    welcome = conn.hello(ticket, len(data), "Ferien 2024 — Strand.mov")
    assert welcome["type"] == "welcome"
    assert welcome["offset"] == 0
    assert welcome["state"] == "uploading"
    assert welcome["chunkSize"] > 0 and welcome["window"] >= welcome["chunkSize"]
    conn.send_data(data, chunk=256 * 1024)
    assert conn.until_closed() == 1000
    conn.close()

    acks = [m["offset"] for m in conn.of_type("ack")]
    assert acks == sorted(acks) and acks[-1] == len(data)
    assert conn.states == ["stored", "handing_over", "finished"]
    last_ack = max(i for i, m in enumerate(conn.messages) if m["type"] == "ack")
    first_state = min(i for i, m in enumerate(conn.messages) if m["type"] == "state")
    assert last_ack < first_state, "the last byte is acknowledged before 'stored'"

    [callback] = backend.wait_for_callbacks(ticket)
    form = callback.form
    assert callback.path == "/done" and callback.method == "POST"
    assert callback.content_type.startswith("application/x-www-form-urlencoded")
    assert form["id"] == ticket
    assert form["filenameFromBrowser"] == "Ferien 2024 — Strand.mov"
    assert form["size"] == str(len(data))
    assert form["sha256"] == sha256(data)
    assert form["cancelled"] == "no"
    assert form["cancelReason"] == ""
    assert form["backendSecret"] == "s3cret"
    assert os.path.isabs(form["filename"])
    assert os.path.realpath(form["filename"]).startswith(os.path.realpath(server.storage_dir))
    assert "Ferien" not in form["filename"], "the browser's name never names a file on disk"
    assert callback.file_existed, "the file exists when the backend is told"
    assert callback.file_sha256 == sha256(data) and callback.file_size == len(data)

    status = api.upload_status(ticket, "s3cret")
    assert status["state"] == "finished"
    assert status["sha256"] == sha256(data)
    assert status["size"] == len(data) and status["bytesReceived"] == len(data)
    assert status["filenameFromBrowser"] == "Ferien 2024 — Strand.mov"
    assert "backendSecret" not in status
    wait_until(lambda: not os.path.exists(form["filename"]), 5, message="the file to be removed")
    assert not server.partial_path(ticket).exists()


def test_file_is_kept_when_remove_file_when_finished_is_false(
        server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """With removeFileWhenFinished=false the handed-over file stays where the callback said."""
    data = make_data(MiB + 7, seed=2)
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
    conn = upload(server, ticket, data, "keep.bin")
    assert conn.close_code == 1000 and conn.states[-1] == "finished"
    [callback] = backend.wait_for_callbacks(ticket)
    path = callback.form["filename"]
    # A file that is removed goes right after "finished"; watch it for a while to be sure it stays.
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        assert os.path.isfile(path)
        time.sleep(0.05)
    with open(path, "rb") as f:
        assert sha256(f.read()) == sha256(data)
    assert api.upload_status(ticket)["filename"] == path


def test_wait_then_finish_upload(server: IncomingServer, api: BackendAPI,
                                 backend: FakeBackend) -> None:
    """A backend that answers wait keeps the client at waiting_for_backend until finish_upload."""
    data = make_data(512 * 1024, seed=3)
    ticket = api.new_upload(backend.callback_url(), backend_secret="k")
    gate = backend.hold(ticket, then=WAIT)
    assert api.upload_status(ticket, "k")["state"] == "created"

    conn = Connection(server)
    conn.hello(ticket, len(data), "wait.bin")
    assert api.upload_status(ticket, "k")["state"] == "uploading"
    conn.send_data(data)
    conn.wait_for("state", state="handing_over")
    backend.wait_for_callbacks(ticket)
    assert api.upload_status(ticket, "k")["state"] == "handing_over"
    gate.set()
    conn.wait_for("state", state="waiting_for_backend")
    status = api.upload_status(ticket, "k")
    assert status["state"] == "waiting_for_backend"
    assert status["bytesReceived"] == len(data)

    conn.drain()
    assert "finished" not in conn.states and not conn.closed
    assert api.finish_upload(ticket, "k") == "ok"
    conn.wait_for("state", state="finished")
    assert conn.until_closed() == 1000
    assert conn.states == ["stored", "handing_over", "waiting_for_backend", "finished"]
    assert api.upload_status(ticket, "k")["state"] == "finished"
    assert len(backend.callbacks_for(ticket)) == 1, "handed over exactly once"
    # finish_upload again is harmless (here as JSON); the file is gone as asked
    again = api.call("finish_upload", {"id": ticket, "backendSecret": "k"}, accept_json=True)
    assert again.status == 200 and again.json() == {"result": "ok"}
    wait_until(lambda: not server.complete_path(ticket).exists(), 5, message="the file removed")


def test_client_reconnecting_while_waiting_for_backend_only_listens(
        server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """A client that comes back after all bytes arrived is welcomed at offset=size and hears
    finished."""
    data = make_data(200_000, seed=4)
    ticket = api.new_upload(backend.callback_url())
    backend.answer(ticket, WAIT)
    first = Connection(server)
    first.hello(ticket, len(data))
    first.send_data(data)
    first.wait_for("state", state="waiting_for_backend")
    first.drop()

    second = Connection(server)
    welcome = second.hello(ticket, len(data))
    assert welcome["type"] == "welcome"
    assert welcome["offset"] == len(data)
    assert welcome["state"] == "waiting_for_backend"
    api.finish_upload(ticket)
    second.wait_for("state", state="finished")
    assert second.until_closed() == 1000


def test_empty_file(server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """A file of size 0 sends no bytes and is stored and handed over at once."""
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
    conn = Connection(server)
    welcome = conn.hello(ticket, 0, "empty.txt")
    assert welcome["type"] == "welcome" and welcome["offset"] == 0
    assert conn.until_closed() == 1000
    assert conn.states == ["stored", "handing_over", "finished"]
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["size"] == "0"
    assert callback.form["sha256"] == sha256(b"")
    assert callback.file_existed and callback.file_size == 0


def test_pause_and_unpause(server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """pause and unpause are answered with their states and the upload then completes."""
    data = make_data(300_000, seed=5)
    ticket = api.new_upload(backend.callback_url())
    conn = Connection(server)
    conn.hello(ticket, len(data))
    conn.send_data(data, upto=100_000)
    conn.send_json({"type": "pause"})
    conn.wait_for("state", state="paused")
    assert api.upload_status(ticket)["state"] == "paused"
    conn.send_json({"type": "unpause"})
    conn.wait_for("state", state="uploading")
    conn.send_data(data)
    assert conn.until_closed() == 1000
    assert conn.states[-1] == "finished"
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)


@pytest.mark.time_limit(90)
def test_twenty_uploads_at_once(server: IncomingServer, api: BackendAPI,
                                backend: FakeBackend) -> None:
    """Twenty uploads over separate connections at the same time all finish with correct sha256."""
    payloads = {api.new_upload(backend.callback_url()): make_data(400_000 + i * 4099, seed=100 + i)
                for i in range(20)}

    def one(ticket: str) -> Connection:
        return upload(server, ticket, payloads[ticket], f"file-{ticket[:6]}", chunk=64 * 1024)

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = dict(zip(payloads, pool.map(one, payloads), strict=True))
    for conn in results.values():
        assert conn.close_code == 1000, conn.messages[-3:]
        assert conn.states[-1] == "finished"
    for ticket, data in payloads.items():
        [callback] = backend.wait_for_callbacks(ticket)
        assert callback.form["sha256"] == sha256(data)
        assert callback.form["size"] == str(len(data))


def test_unknown_members_are_ignored(server: IncomingServer, api: BackendAPI,
                                     backend: FakeBackend) -> None:
    """Members a receiver does not know are ignored: a hello with extras is welcomed, and it
    uploads."""
    data = make_data(20_000, seed=6)
    ticket = api.new_upload(backend.callback_url())
    conn = Connection(server)
    conn.send_json({"type": "hello", "ticket": ticket, "size": len(data), "filename": "x.bin",
                    "lastModified": 1700000000, "resumeToken": {"a": [1, 2]}})
    welcome = conn.next()
    assert welcome["type"] == "welcome" and welcome["offset"] == 0, welcome
    conn.acked = conn.sent = 0
    conn.welcome, conn.chunk_size, conn.window = welcome, welcome["chunkSize"], welcome["window"]
    conn.send_json({"type": "pause", "why": "coffee"})
    conn.wait_for("state", state="paused")
    conn.send_json({"type": "unpause"})
    conn.send_data(data)
    assert conn.until_closed() == 1000 and conn.states[-1] == "finished"


def test_browser_filename_never_names_a_file_on_disk(server: IncomingServer, api: BackendAPI,
                                                     backend: FakeBackend) -> None:
    """A hostile browser filename is only passed on as filenameFromBrowser; the file is named by
    ticket."""
    data = make_data(1000, seed=7)
    evil = "../../../../tmp/evil\\..\\x.sh"
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
    conn = upload(server, ticket, data, evil)
    assert conn.states[-1] == "finished"
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["filenameFromBrowser"] == evil
    stored = os.path.realpath(callback.form["filename"])
    assert stored == os.path.realpath(server.complete_path(ticket))

"""A real disk running full: a small tmpfs the test mounts holds the storage directory and
the ticket database, and the test fills it with a file of its own, then frees the space.

The server must stay up, say ``storage_full`` (error 21, retryable; HTTP 507) instead of
failing obscurely, keep every acknowledged byte, and carry on by itself once there is room.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from incoming.errors import ErrorCode
from test.integration.conftest import FAST_OPTIONS
from test.integration.wsupload import Connection, make_data, sha256
from test.support.backend import BackendAPI, FakeBackend
from test.support.resuming import ResumingUpload
from test.support.server import IncomingServer, ServerFailed, wait_until
from test.support.tmpfs import fill, free_bytes, mounted_tmpfs

MiB = 1 << 20
DISK_SIZE = "8m"


def storage_full_codes() -> set[int]:
    """What a client may hear when the disk is full: 21 ``storage_full`` (docs/protocol.rst);
    while the server does not know code 21 yet, its older 12 ``storage_failed`` too."""
    return {21} if hasattr(ErrorCode, "STORAGE_FULL") else {12, 21}


def report(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with capsys.disabled():
        print(f"\n[disk-full] {text}")


def get(url: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """A plain GET; (status, headers, body), whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers.items()), e.read()


def one_line(text: str) -> str:
    line = text.strip()
    assert line and "\n" not in line and len(line) < 300, f"not one clear line: {text!r}"
    return line


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, mounted for this test only."""
    with mounted_tmpfs(tmp_path / "small-disk", DISK_SIZE) as where:
        yield where


@pytest.fixture
def server(tmp_path: Path, disk: Path) -> Iterator[IncomingServer]:
    """A server whose storage directory, and so its ticket database, is on the small disk.

    At the end it must stop cleanly and have logged no traceback (as ``make_server``'s); it
    stops before the disk is unmounted.
    """
    server = IncomingServer(tmp_path / "servers", storage_dir=disk / "storage", options={
        **FAST_OPTIONS, "chunk_size": "256KiB", "window_size": "1MiB"})
    server.start()
    problems: list[str] = []
    try:
        yield server
    finally:
        try:
            if server.running:
                server.stop()
        except ServerFailed as e:
            problems.append(str(e))
        finally:
            server.kill()
        if server.errors_in_log():
            problems.append(f"{server.name} logged errors:\n" + server.error_report())
    if problems:
        raise ServerFailed("\n\n".join(problems))


@pytest.fixture
def api(server: IncomingServer) -> BackendAPI:
    return BackendAPI(server.api_url)


@pytest.mark.time_limit(45)
def test_an_upload_larger_than_the_free_space(server: IncomingServer, api: BackendAPI,
                                              disk: Path, backend: FakeBackend,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """An upload that outgrows the free space is told storage_full (retryable) with its stored
    prefix intact, and completes byte-identical by itself once space is freed."""
    data = make_data(5 * MiB, seed=81)
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
    filler = disk / "filler"
    fill(filler, leave=2 * MiB)
    free_before = free_bytes(disk)
    with ResumingUpload(server, ticket, data, filename="big.bin", chunk=256 * 1024,
                        first_delay=0.1, most_delay=0.8, deadline=35.0) as upload:
        upload.wait_until(lambda u: len(u.errors) >= 2 or u.outcome, 15,
                          "the server to refuse twice for lack of space")
        assert upload.outcome is None, upload.summary()
        assert server.running, "the server stays up"
        for error in upload.errors:
            assert error["code"] in storage_full_codes(), upload.summary()
            assert error.get("state") == "uploading", error
            one_line(error["message"])
        assert all(a.close_code == 4000 + a.error["code"] for a in upload.attempts
                   if a.error is not None), upload.summary()
        stored = server.partial_path(ticket).read_bytes()
        acked = max(a.acked for a in upload.welcomed)
        assert 0 < acked <= len(stored) < len(data), (acked, len(stored))
        assert stored == data[:len(stored)], "the stored prefix is the data's prefix"
        status = api.upload_status(ticket)
        assert status["state"] == "uploading" and status["bytesReceived"] <= len(stored), status

        filler.unlink()
        freed_at = time.monotonic()
        assert upload.wait_done(25) == "finished", upload.summary()

    report(capsys, f"{len(data)} bytes with {free_before} free: refused "
                   f"{len(upload.errors)} times ({sorted({e['code'] for e in upload.errors})}) "
                   f"with {len(stored)} bytes stored, {acked} acknowledged; finished "
                   f"{upload.attempts[-1].ended_at - freed_at:.2f} s after space was freed")
    assert server.complete_path(ticket).read_bytes() == data
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data) and callback.form["size"] == str(len(data))
    assert api.upload_status(ticket)["state"] == "finished"


@pytest.mark.time_limit(30)
def test_new_upload_while_the_disk_is_full(server: IncomingServer, api: BackendAPI,
                                           disk: Path, backend: FakeBackend,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """With the disk full to the last byte, new_upload answers 507 and one clear line (a JSON
    storage_full error when asked) without a traceback, and works again once space returns."""
    before = api.new_upload(backend.callback_url())
    filler = disk / "filler"
    fill(filler)
    params = {"signalFinishURL": backend.callback_url()}

    plain = api.call("new_upload", params)
    assert plain.status == 507, (plain.status, plain.text)
    assert plain.content_type.startswith("text/plain"), plain.headers
    line = one_line(plain.text)
    assert "space" in line.lower() or "full" in line.lower(), line

    answer = api.call("new_upload", params, accept_json=True)
    assert answer.status == 507, (answer.status, answer.text)
    assert answer.content_type.startswith("application/json"), answer.headers
    error = answer.json()["error"]
    assert (error["code"], error["name"]) == (21, "storage_full"), error
    one_line(error["message"])

    assert server.running
    assert "Unhandled error in Deferred" not in server.log
    assert "Traceback" not in server.log
    assert not server.errors_in_log(), server.error_report()
    assert api.upload_status(before)["state"] == "created", "reading still works"
    report(capsys, f"new_upload on a full disk: {plain.status} {line!r}; JSON: {error}")

    filler.unlink()
    ticket = api.new_upload(backend.callback_url())
    assert api.upload_status(ticket)["state"] == "created"
    data = make_data(300_000, seed=82)
    with Connection(server) as conn:
        assert conn.hello(ticket, len(data))["type"] == "welcome"
        conn.send_data(data)
        assert conn.until_closed() == 1000 and conn.states[-1] == "finished", conn.messages


@pytest.mark.time_limit(30)
def test_frontend_and_health_while_the_disk_is_full(server: IncomingServer, api: BackendAPI,
                                                    disk: Path, backend: FakeBackend,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """While the disk is full, incoming.js and the WebSocket keep answering and /healthz answers
    503 naming the storage; once space returns /healthz answers 200 again."""
    ticket = api.new_upload(backend.callback_url())
    assert get(f"{server.base_url}/healthz")[0] == 200
    filler = disk / "filler"
    fill(filler)

    status, headers, script = get(f"{server.base_url}/incoming/0.1/frontend/incoming.js")
    assert status == 200 and b"incoming" in script, (status, script[:200])
    assert "javascript" in headers.get("Content-Type", ""), headers

    with Connection(server) as conn:
        answer = conn.hello(ticket, MiB)
        if answer["type"] == "error":  # it cannot record the ticket's start: retry later
            assert answer["code"] in storage_full_codes(), answer
        else:
            assert answer["type"] == "welcome" and answer["offset"] == 0, answer
    with Connection(server) as conn:
        unknown = conn.hello("no-such-ticket", 10)
        assert (unknown["type"], unknown["code"]) == ("error", 2), unknown
        assert conn.until_closed() == 4002

    status, headers, text = get(f"{server.base_url}/healthz")
    line = one_line(text.decode())
    assert status == 503, (status, line)
    assert "storage" in line.lower(), line
    assert headers.get("Cache-Control") == "no-store", headers
    assert server.running
    report(capsys, f"/healthz on a full disk: {status} {line!r}; WebSocket hello: {answer}")

    filler.unlink()
    wait_until(lambda: get(f"{server.base_url}/healthz")[0] == 200, 10,
               message="/healthz to answer 200 once space returns")
    assert json.loads(api.call("upload_status", {"id": ticket}, method="GET").text)["id"] == ticket

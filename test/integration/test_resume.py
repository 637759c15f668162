"""Resuming after a lost connection or a server restart, and newer connections taking over."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from test.support.backend import BackendAPI, FakeBackend
from test.support.server import IncomingServer, wait_until
from test.support.wsclient import Closed
from test.integration.conftest import FAST_OPTIONS
from test.integration.wsupload import Connection, make_data, sha256

MiB = 1 << 20


def _finish_from_welcome(server: IncomingServer, ticket: str, data: bytes,
                         at_least: int, at_most: int) -> Connection:
    """Reconnect, check welcome.offset is in [at_least, at_most], send the rest; the connection."""
    conn = Connection(server)
    welcome = conn.hello(ticket, len(data), "resumed.bin")
    assert welcome["type"] == "welcome", welcome
    assert at_least <= welcome["offset"] <= at_most, (welcome, at_least, at_most)
    conn.send_data(data, chunk=128 * 1024)
    assert conn.until_closed() == 1000, conn.messages[-3:]
    assert conn.states[-1] == "finished"
    return conn


def test_resume_after_the_connection_drops(server: IncomingServer, api: BackendAPI,
                                           backend: FakeBackend) -> None:
    """After an abrupt disconnect, welcome.offset is at least the last ack and the file ends up
    whole."""
    data = make_data(3 * MiB, seed=31)
    ticket = api.new_upload(backend.callback_url())
    first = Connection(server)
    first.hello(ticket, len(data), "resumed.bin")
    first.send_data(data, upto=3 * MiB // 2, chunk=128 * 1024)
    first.wait_for_ack(MiB)
    first.drain()
    last_ack, sent = first.acked, first.sent
    first.drop()

    _finish_from_welcome(server, ticket, data, at_least=last_ack, at_most=sent)
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)
    assert callback.form["size"] == str(len(data))


def test_resume_several_times(server: IncomingServer, api: BackendAPI,
                              backend: FakeBackend) -> None:
    """An upload cut off four times, each time right after sending, still ends with the right
    sha256."""
    data = make_data(2 * MiB + 3, seed=32)
    ticket = api.new_upload(backend.callback_url())
    last_ack = 0
    for part in range(1, 5):
        conn = Connection(server)
        welcome = conn.hello(ticket, len(data))
        assert welcome["offset"] >= last_ack
        conn.send_data(data, upto=part * len(data) // 5, chunk=100_000)
        conn.drain()
        last_ack = conn.acked
        conn.drop()
    _finish_from_welcome(server, ticket, data, at_least=last_ack, at_most=len(data))
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)


def test_a_newer_connection_takes_over(server: IncomingServer, api: BackendAPI,
                                       backend: FakeBackend) -> None:
    """A second connection for the ticket is welcomed; the first gets error 11 and close code
    4011."""
    data = make_data(MiB, seed=33)
    ticket = api.new_upload(backend.callback_url())
    first = Connection(server)
    first.hello(ticket, len(data))
    first.send_data(data, upto=400_000)
    first.wait_for_ack(400_000)

    second = Connection(server)
    welcome = second.hello(ticket, len(data))
    assert welcome["type"] == "welcome", welcome
    assert welcome["offset"] == 400_000
    error = first.expect_error(11)
    assert first.close_code == 4011
    assert error.get("state") == "uploading"

    second.send_data(data)
    assert second.until_closed() == 1000
    assert second.states[-1] == "finished"
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)


def test_takeover_while_the_older_connection_is_still_sending(
        server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """Bytes the older connection sends after a takeover do not corrupt the file."""
    data = make_data(2 * MiB, seed=34)
    ticket = api.new_upload(backend.callback_url())
    first = Connection(server)
    first.hello(ticket, len(data))
    first.send_data(data, upto=MiB, chunk=64 * 1024)
    second = Connection(server)
    welcome = second.hello(ticket, len(data))
    assert welcome["type"] == "welcome"
    with contextlib.suppress(Closed, OSError):  # the older one keeps sending until it notices
        first.send_data(data, upto=MiB + 512 * 1024, chunk=64 * 1024)
    first.close()
    second.send_data(data, chunk=64 * 1024)
    assert second.until_closed() == 1000
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)


def test_resume_after_the_server_is_killed(make_server: Callable[..., IncomingServer],
                                           backend: FakeBackend) -> None:
    """After SIGKILL mid-upload and a restart on the same storage, the upload resumes from the
    partial file."""
    server = make_server(**FAST_OPTIONS)
    api = BackendAPI(server.api_url)
    data = make_data(3 * MiB, seed=35)
    ticket = api.new_upload(backend.callback_url(), backend_secret="r")
    conn = Connection(server)
    conn.hello(ticket, len(data), "crash.bin")
    conn.send_data(data, upto=2 * MiB, chunk=256 * 1024)
    conn.wait_for_ack(MiB)
    conn.drain()
    last_ack = conn.acked
    port = server.port
    server.kill()
    conn.close()
    on_disk = server.partial_path(ticket).stat().st_size
    assert last_ack <= on_disk <= conn.sent

    server.start()
    assert server.port == port
    api = BackendAPI(server.api_url)
    assert api.upload_status(ticket, "r")["state"] in ("uploading", "created")
    assert api.upload_status(ticket, "r")["bytesReceived"] == on_disk
    _finish_from_welcome(server, ticket, data, at_least=on_disk, at_most=on_disk)
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)
    assert callback.form["filenameFromBrowser"] == "crash.bin"
    assert api.upload_status(ticket, "r")["state"] == "finished"


def test_resume_after_the_server_is_stopped(make_server: Callable[..., IncomingServer],
                                            backend: FakeBackend) -> None:
    """SIGTERM mid-upload tells the client 13 (or closes); after a restart the upload completes."""
    server = make_server(**FAST_OPTIONS)
    api = BackendAPI(server.api_url)
    data = make_data(2 * MiB, seed=36)
    ticket = api.new_upload(backend.callback_url())
    conn = Connection(server)
    conn.hello(ticket, len(data))
    conn.send_data(data, upto=MiB, chunk=128 * 1024)
    conn.wait_for_ack(MiB)
    server.stop()
    code = conn.until_closed()
    errors = conn.of_type("error")
    if errors:
        assert errors[0]["code"] == 13 and code == 4013, (errors, code)
    else:
        assert code in (1001, 1006, None), code
    conn.close()
    assert server.partial_path(ticket).stat().st_size == MiB

    server.start()
    _finish_from_welcome(server, ticket, data, at_least=MiB, at_most=MiB)
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)
    wait_until(lambda: not server.complete_path(ticket).exists(), 5, message="the file removed")

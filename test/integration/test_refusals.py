"""Every refusal of the upload protocol, over the real socket, and what survives it.

After a refusal the connection is closed with 4000 + code, and every byte the
server acknowledged before it stays stored: ``upload_status`` still counts
them, and a client that connects again resumes and completes the file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from test.support.backend import WAIT, BackendAPI, FakeBackend
from test.support.server import IncomingServer, wait_until
from test.support.wsclient import OP_BINARY, frame
from test.integration.conftest import FAST_OPTIONS
from test.integration.wsupload import Connection, make_data, sha256, upload

CHUNK = 16 * 1024
WINDOW = 32 * 1024
MAX_UPLOAD = 4 * 1024 * 1024
IDLE_TIMEOUT = 1.0
PING_INTERVAL = 2.0
QUIET_WATCH = 1.6 * IDLE_TIMEOUT
"""How long a test watches a quiet connection to see that the idle timeout spares it."""


@pytest.fixture(scope="module")
def server_options() -> dict[str, Any]:
    return {"chunk_size": CHUNK, "window_size": WINDOW, "max_upload_size": MAX_UPLOAD}


# -- helpers ---------------------------------------------------------------------------------------

def _part(server: IncomingServer, ticket: str, data: bytes, upto: int) -> Connection:
    """A connection that uploaded ``data[:upto]`` and saw it acknowledged."""
    conn = Connection(server)
    welcome = conn.hello(ticket, len(data), "part.bin")
    assert welcome["type"] == "welcome", welcome
    conn.send_data(data, upto=upto)
    conn.wait_for_ack(upto)
    return conn


def _assert_kept_and_resumable(server: IncomingServer, api: BackendAPI, backend: FakeBackend,
                               ticket: str, data: bytes, acked: int) -> None:
    """The acknowledged bytes are still stored, and an upload resumed after them completes."""
    status = api.upload_status(ticket)
    assert status["state"] in ("uploading", "paused"), status
    assert status["bytesReceived"] >= acked, (status, acked)
    conn = Connection(server)
    welcome = conn.hello(ticket, len(data), "part.bin")
    assert welcome["type"] == "welcome", welcome
    assert welcome["offset"] >= acked
    conn.send_data(data)
    assert conn.until_closed() == 1000, conn.messages[-3:]
    assert conn.states[-1] == "finished"
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)
    assert callback.form["size"] == str(len(data))


# -- refusals at hello -----------------------------------------------------------------------------

@pytest.mark.parametrize("ticket", ["no-such-ticket-xxxxxxxxxxxxxxxxxxxx", "../tickets.sqlite3",
                                    "../../../etc/passwd", "x" * 256])
def test_unknown_ticket(ticket: str, server: IncomingServer) -> None:
    """A hello for a ticket that does not exist (whatever it looks like) gets error 2 and close
    4002."""
    files_before = _files(server)
    conn = Connection(server)
    answer = conn.hello(ticket, 100)
    assert answer["type"] == "error" and answer["code"] == 2, answer
    assert conn.until_closed() == 4002
    assert _files(server) <= files_before, "nothing is created for an unknown ticket"


def _files(server: IncomingServer) -> set[str]:
    return {str(p) for p in server.storage_dir.rglob("*") if "tickets.sqlite3" not in p.name}


def test_size_above_the_server_limit(server: IncomingServer, api: BackendAPI,
                                     backend: FakeBackend) -> None:
    """A size above --max-upload-size gets error 5, also for a ticket with a larger maxSize."""
    for max_size in (None, 10 * MAX_UPLOAD):
        ticket = api.new_upload(backend.callback_url(), max_size=max_size)
        conn = Connection(server)
        assert conn.hello(ticket, MAX_UPLOAD + 1)["type"] == "error"
        assert conn.messages[-1]["code"] == 5
        assert conn.until_closed() == 4005
        assert api.upload_status(ticket)["state"] == "created"
    data = make_data(MAX_UPLOAD, seed=40)  # exactly the limit is fine
    ticket = api.new_upload(backend.callback_url())
    assert upload(server, ticket, data).states[-1] == "finished"


def test_size_above_the_ticket_max_size(server: IncomingServer, api: BackendAPI,
                                        backend: FakeBackend) -> None:
    """A size above the ticket's maxSize gets error 5; the ticket still takes a file of maxSize."""
    ticket = api.new_upload(backend.callback_url(), max_size=100_000)
    conn = Connection(server)
    answer = conn.hello(ticket, 100_001)
    assert answer["type"] == "error" and answer["code"] == 5, answer
    assert conn.until_closed() == 4005
    data = make_data(100_000, seed=41)
    assert upload(server, ticket, data).states[-1] == "finished"
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)


def test_size_above_the_limit_on_reconnect(server: IncomingServer, api: BackendAPI,
                                           backend: FakeBackend) -> None:
    """A reconnect declaring a size above the limit gets error 5 and the stored bytes stay."""
    data = make_data(200_000, seed=42)
    ticket = api.new_upload(backend.callback_url())
    first = _part(server, ticket, data, 100_000)
    first.close()
    conn = Connection(server)
    answer = conn.hello(ticket, MAX_UPLOAD + 1)
    assert answer["type"] == "error" and answer["code"] == 5, answer
    assert conn.until_closed() == 4005
    _assert_kept_and_resumable(server, api, backend, ticket, data, 100_000)


def test_size_mismatch_on_reconnect(server: IncomingServer, api: BackendAPI,
                                    backend: FakeBackend) -> None:
    """A reconnect declaring another size than the first hello gets error 6; the bytes stay."""
    data = make_data(200_000, seed=43)
    ticket = api.new_upload(backend.callback_url())
    first = _part(server, ticket, data, 64_000)
    first.close()
    for other in (len(data) + 1, len(data) - 1, 0):
        conn = Connection(server)
        answer = conn.hello(ticket, other)
        assert answer["type"] == "error" and answer["code"] == 6, (other, answer)
        assert conn.until_closed() == 4006
    _assert_kept_and_resumable(server, api, backend, ticket, data, 64_000)


def test_closed_ticket_error_says_the_state(server: IncomingServer, api: BackendAPI,
                                            backend: FakeBackend) -> None:
    """A hello for a finished or cancelled ticket gets error 4 whose state member says which."""
    finished = api.new_upload(backend.callback_url())
    assert upload(server, finished, b"abc").states[-1] == "finished"
    cancelled = api.new_upload(backend.callback_url())
    api.cancel_upload(cancelled)
    for ticket, state in ((finished, "finished"), (cancelled, "cancelled")):
        conn = Connection(server)
        answer = conn.hello(ticket, 3)
        assert answer["type"] == "error" and answer["code"] == 4, answer
        assert conn.until_closed() == 4004
        # docs/protocol.rst, error 4: "it is finished, cancelled, expired or failed
        # (``state`` says which)"
        assert answer.get("state") == state, answer


# -- refusals of bytes -----------------------------------------------------------------------------

def test_chunk_above_chunk_size(server: IncomingServer, api: BackendAPI,
                                backend: FakeBackend) -> None:
    """A binary message above chunkSize gets error 7; the acknowledged bytes stay."""
    data = make_data(150_000, seed=44)
    ticket = api.new_upload(backend.callback_url())
    conn = _part(server, ticket, data, 3 * CHUNK)
    assert conn.chunk_size == CHUNK
    conn.send_binary(data[3 * CHUNK:4 * CHUNK + 1])
    error = conn.expect_error(7)
    assert error.get("state") == "uploading"
    _assert_kept_and_resumable(server, api, backend, ticket, data, 3 * CHUNK)


def test_fragmented_message_above_chunk_size(server: IncomingServer, api: BackendAPI,
                                             backend: FakeBackend) -> None:
    """A binary message above chunkSize is refused with 7 even when sent as small frames."""
    data = make_data(100_000, seed=45)
    ticket = api.new_upload(backend.callback_url())
    conn = _part(server, ticket, data, CHUNK)
    piece = CHUNK // 2 + 1
    conn.ws.send_raw(frame(OP_BINARY, data[CHUNK:CHUNK + piece], fin=False)
                     + frame(0x0, data[CHUNK + piece:CHUNK + 2 * piece], fin=True))
    conn.expect_error(7)
    _assert_kept_and_resumable(server, api, backend, ticket, data, CHUNK)


def test_bytes_past_the_declared_size(server: IncomingServer, api: BackendAPI,
                                      backend: FakeBackend) -> None:
    """Bytes going past the declared size get error 8; the acknowledged bytes stay."""
    data = make_data(50_000, seed=46)
    ticket = api.new_upload(backend.callback_url())
    conn = _part(server, ticket, data, 40_000)
    conn.send_binary(data[40_000:] + b"x" * 100)
    conn.expect_error(8)
    _assert_kept_and_resumable(server, api, backend, ticket, data, 40_000)


def test_window_exceeded(server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """More than window bytes beyond the last ack, sent all at once, get error 9; acked bytes
    stay."""
    data = make_data(1_000_000, seed=47)
    ticket = api.new_upload(backend.callback_url())
    conn = _part(server, ticket, data, 2 * CHUNK)
    assert conn.window == WINDOW
    burst = b"".join(frame(OP_BINARY, data[at:at + CHUNK])
                     for at in range(2 * CHUNK, 2 * CHUNK + 20 * CHUNK, CHUNK))
    conn.ws.send_raw(burst)  # the server reads these in a few reads: no ack can come between
    conn.expect_error(9)
    _assert_kept_and_resumable(server, api, backend, ticket, data, conn.acked)


# -- malformed messages ----------------------------------------------------------------------------

MALFORMED_AFTER_WELCOME = {
    "not-json": b"{this is not json",
    "not-an-object": b"[1, 2, 3]",
    "a-string": b'"hello"',
    "no-type": b'{"ticket": "x"}',
    "type-not-a-string": b'{"type": 5}',
    "unknown-type": b'{"type": "rewind"}',
    "second-hello": None,  # filled in with the real ticket
    "cancel-reason-not-a-string": b'{"type": "cancel", "reason": 5}',
    "cancel-reason-too-long": json.dumps({"type": "cancel", "reason": "r" * 1025}).encode(),
    "text-too-long": json.dumps({"type": "pause", "padding": "p" * 20000}).encode(),
    "invalid-utf8": b'{"type": "pause", "x": "\xff\xfe"}',
}


@pytest.mark.parametrize("name", list(MALFORMED_AFTER_WELCOME))
def test_malformed_message_after_welcome(name: str, server: IncomingServer, api: BackendAPI,
                                         backend: FakeBackend) -> None:
    """A malformed text message after the welcome gets error 1; the acknowledged bytes stay."""
    data = make_data(120_000, seed=48)
    ticket = api.new_upload(backend.callback_url())
    conn = _part(server, ticket, data, 2 * CHUNK)
    raw = MALFORMED_AFTER_WELCOME[name]
    if raw is None:
        raw = json.dumps({"type": "hello", "ticket": ticket, "size": len(data)}).encode()
    conn.ws.send_text(raw)
    if name == "invalid-utf8":
        # A WebSocket protocol violation (RFC 6455 §8.1): Autobahn fails the connection itself,
        # with close 1007 or (its default failByDrop) by dropping TCP; error 1 would do as well.
        try:
            code = conn.until_closed()
        except OSError:
            code = None
        errors = conn.of_type("error")
        assert code in (1007, None) or (errors and errors[0]["code"] == 1 and code == 4001), \
            (code, conn.messages)
    else:
        conn.expect_error(1)
    _assert_kept_and_resumable(server, api, backend, ticket, data, 2 * CHUNK)


MALFORMED_BEFORE_WELCOME: dict[str, Callable[[Connection, str], None]] = {
    "binary-before-hello": lambda c, t: c.ws.send_binary(b"\x00" * 100),
    "pause-before-hello": lambda c, t: c.send_json({"type": "pause"}),
    "not-json": lambda c, t: c.ws.send_text(b"hello?"),
    "hello-without-ticket": lambda c, t: c.send_json({"type": "hello", "size": 10}),
    "hello-ticket-not-a-string": lambda c, t: c.send_json(
        {"type": "hello", "ticket": 5, "size": 10}),
    "hello-without-size": lambda c, t: c.send_json({"type": "hello", "ticket": t}),
    "hello-size-negative": lambda c, t: c.send_json({"type": "hello", "ticket": t, "size": -1}),
    "hello-size-a-string": lambda c, t: c.send_json({"type": "hello", "ticket": t, "size": "10"}),
    "hello-size-a-float": lambda c, t: c.send_json({"type": "hello", "ticket": t, "size": 10.5}),
    "hello-size-a-boolean": lambda c, t: c.send_json({"type": "hello", "ticket": t, "size": True}),
    "hello-filename-too-long": lambda c, t: c.send_json(
        {"type": "hello", "ticket": t, "size": 10, "filename": "f" * 1025}),
    "hello-filename-not-a-string": lambda c, t: c.send_json(
        {"type": "hello", "ticket": t, "size": 10, "filename": ["a"]}),
}


@pytest.mark.parametrize("name", list(MALFORMED_BEFORE_WELCOME))
def test_malformed_hello(name: str, server: IncomingServer, api: BackendAPI,
                         backend: FakeBackend) -> None:
    """A connection that does not start with a well-formed hello gets error 1; the ticket is
    untouched."""
    ticket = api.new_upload(backend.callback_url())
    conn = Connection(server)
    MALFORMED_BEFORE_WELCOME[name](conn, ticket)
    conn.expect_error(1)
    assert api.upload_status(ticket)["state"] == "created"
    assert upload(server, ticket, b"0123456789").states[-1] == "finished"


# -- idle timeout ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def idle_server(make_module_server: Callable[..., IncomingServer]) -> IncomingServer:
    return make_module_server(**{**FAST_OPTIONS, "idle_timeout": f"{IDLE_TIMEOUT:g}s",
                                 "ping_interval": f"{PING_INTERVAL:g}s",
                                 "chunk_size": CHUNK, "window_size": WINDOW})


def test_idle_timeout_without_hello(idle_server: IncomingServer) -> None:
    """A connection that sends no hello gets error 10 after --idle-timeout."""
    conn = Connection(idle_server)
    started = time.monotonic()
    conn.expect_error(10)
    assert 0.8 <= time.monotonic() - started < 5


def test_idle_timeout_while_uploading(idle_server: IncomingServer, backend: FakeBackend) -> None:
    """A connection that stops sending bytes gets error 10; the acknowledged bytes stay."""
    api = BackendAPI(idle_server.api_url)
    data = make_data(100_000, seed=49)
    ticket = api.new_upload(backend.callback_url())
    conn = _part(idle_server, ticket, data, 2 * CHUNK)
    started = time.monotonic()
    error = conn.expect_error(10)
    assert error.get("state") == "uploading"
    assert time.monotonic() - started < 5
    _assert_kept_and_resumable(idle_server, api, backend, ticket, data, 2 * CHUNK)


def test_no_idle_timeout_while_paused(idle_server: IncomingServer, backend: FakeBackend) -> None:
    """A paused connection outlives the idle timeout (watched for 1.6 timeouts) and can finish
    later."""
    api = BackendAPI(idle_server.api_url)
    data = make_data(100_000, seed=50)
    ticket = api.new_upload(backend.callback_url())
    conn = _part(idle_server, ticket, data, 2 * CHUNK)
    conn.send_json({"type": "pause"})
    conn.wait_for("state", state="paused")
    assert conn.quiet_for(QUIET_WATCH) == []  # no error 10
    conn.send_json({"type": "unpause"})
    conn.wait_for("state", state="uploading")
    conn.send_data(data)
    assert conn.until_closed() == 1000
    assert conn.of_type("error") == []


def test_no_idle_timeout_while_the_backend_is_slow(idle_server: IncomingServer,
                                                   backend: FakeBackend) -> None:
    """A client waiting for a slow handover (1.6 idle timeouts per state) is not timed out."""
    api = BackendAPI(idle_server.api_url)
    ticket = api.new_upload(backend.callback_url())
    gate = backend.hold(ticket, then=WAIT)
    conn = Connection(idle_server)
    conn.hello(ticket, 1000)
    conn.send_data(make_data(1000))
    conn.wait_for("state", state="handing_over")
    assert conn.quiet_for(QUIET_WATCH) == []
    gate.set()
    conn.wait_for("state", state="waiting_for_backend")
    assert conn.quiet_for(QUIET_WATCH) == []
    api.finish_upload(ticket)
    conn.wait_for("state", state="finished")
    assert conn.until_closed() == 1000


def test_client_that_stops_answering_pings_is_dropped(idle_server: IncomingServer,
                                                      backend: FakeBackend) -> None:
    """A paused client that answers no ping is dropped after the ping timeout; its bytes stay."""
    api = BackendAPI(idle_server.api_url)
    data = make_data(100_000, seed=51)
    ticket = api.new_upload(backend.callback_url())
    conn = _part(idle_server, ticket, data, 2 * CHUNK)
    conn.send_json({"type": "pause"})
    started = time.monotonic()
    # Not reading means not answering pings: within two ping intervals the server drops us.
    wait_until(lambda: api.upload_status(ticket)["state"] == "paused", 5, message="paused")
    idle_server.wait_for_log(r"ping timeout", timeout=4 * PING_INTERVAL)
    try:
        code = conn.until_closed()
    except OSError:
        code = None
    assert code != 1000, conn.messages
    assert time.monotonic() - started < 4 * PING_INTERVAL
    _assert_kept_and_resumable(idle_server, api, backend, ticket, data, 2 * CHUNK)


@pytest.mark.parametrize("interval", ["500ms", "1500ms"])
def test_responsive_client_survives_a_short_ping_interval(
        interval: str, make_server: Callable[..., IncomingServer], backend: FakeBackend) -> None:
    """With a short --ping-interval, a client that answers every ping at once is not dropped."""
    server = make_server(ping_interval=interval, idle_timeout="10s")
    api = BackendAPI(server.api_url)
    ticket = api.new_upload(backend.callback_url())
    conn = Connection(server)
    welcome = conn.hello(ticket, 1000)
    assert welcome["type"] == "welcome", welcome
    conn.send_json({"type": "pause"})
    conn.wait_for("state", state="paused")
    try:
        assert conn.quiet_for(3.0) == []  # answering each ping at once
    except (ConnectionResetError, BrokenPipeError) as e:
        raise AssertionError(f"dropped although it answered every ping ({e!r}); the server "
                             f"logged {server.log.count('ping timeout')} ping timeout(s)") from None
    conn.send_json({"type": "unpause"})
    conn.wait_for("state", state="uploading")
    conn.send_data(make_data(1000))
    assert conn.until_closed() == 1000

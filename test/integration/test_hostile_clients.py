"""Clients that push the server's connection limits, against a real ``twistd``.

Foreign origins get 403, a client over its open-connection cap or connection
rate gets 429, a trusted proxy's clients are counted each by its own address,
the public listeners past ``max_connections`` answer 503; and with the default
limits, a thousand uploads that start within a second are all welcomed.
"""

from __future__ import annotations

import base64
import contextlib
import os
import resource
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from test.integration.wsupload import Connection
from test.support.backend import BackendAPI, FakeBackend
from test.support.server import IncomingServer
from test.support.wsclient import OP_BINARY, OP_TEXT, frame

pytestmark = pytest.mark.time_limit(30)

APP = "https://app.example.com"


def upgrade_request(server: IncomingServer, origin: str | None = None,
                    forwarded_for: str | None = None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    extra = f"Origin: {origin}\r\n" if origin else ""
    extra += f"X-Forwarded-For: {forwarded_for}\r\n" if forwarded_for else ""
    return (f"GET {server.ws_path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def read_head(sock: socket.socket) -> bytes:
    """The HTTP response head (up to the blank line)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.partition(b"\r\n\r\n")[0]


@contextlib.contextmanager
def handshake(server: IncomingServer, **headers: str | None) -> Iterator[tuple[str, socket.socket]]:
    """Open a WebSocket handshake; the answer's status line and the socket (closed after)."""
    sock = socket.create_connection((server.host, server.port), timeout=5)
    try:
        sock.sendall(upgrade_request(server, **headers))
        yield read_head(sock).split(b"\r\n", 1)[0].decode(), sock
    finally:
        sock.close()


def status_of(server: IncomingServer, **headers: str | None) -> str:
    with handshake(server, **headers) as (status, _):
        return status


def test_a_foreign_origin_is_refused_with_403_and_the_app_is_accepted(
        make_server: Callable[..., IncomingServer], backend: FakeBackend) -> None:
    """With --allowed-origin, another origin gets 403 and a reason; the app's origin uploads,
    and so does a program that sends no Origin (no browser, no page to protect)."""
    server = make_server(allowed_origin=[APP, "http://localhost:3000"])
    assert status_of(server, origin="https://evil.example") == "HTTP/1.1 403 origin not allowed"
    assert status_of(server, origin="null") == "HTTP/1.1 403 origin not allowed"
    assert status_of(server).startswith("HTTP/1.1 101 ")
    assert status_of(server, origin=APP).startswith("HTTP/1.1 101 ")
    server.wait_for_log(r"refused an upload connection from 127\.0\.0\.1 \(origin "
                        r"https://evil\.example\): 403 origin not allowed")
    api = BackendAPI(server.api_url)
    ticket = api.new_upload(backend.callback_url())
    with handshake(server, origin=APP.upper()) as (status, sock):
        assert status.startswith("HTTP/1.1 101 ")
        sock.sendall(frame(OP_TEXT, b'{"type": "hello", "ticket": "%s", "size": 3}'
                           % ticket.encode()))
        assert b'"welcome"' in sock.recv(4096)
        sock.sendall(frame(OP_BINARY, b"abc"))
    backend.wait_for_callbacks(ticket)


def test_open_connections_per_address_are_capped_with_429(
        make_server: Callable[..., IncomingServer]) -> None:
    """Past --max-connections-per-address the next handshake gets 429 and a reason; once one
    closes there is room again."""
    server = make_server(max_connections_per_address=3)
    open_ = [Connection(server) for _ in range(3)]
    status = status_of(server)
    assert status == ("HTTP/1.1 429 too many open connections from your address (at most 3)")
    open_.pop().close()
    time.sleep(0.3)
    assert status_of(server).startswith("HTTP/1.1 101 ")
    for conn in open_:
        conn.close()


def test_new_connections_per_address_are_rate_limited_with_429(
        make_server: Callable[..., IncomingServer]) -> None:
    """Past --connection-rate-per-address (a second's worth at once) handshakes get 429."""
    rate = 20
    server = make_server(connection_rate_per_address=rate)
    started = time.monotonic()
    statuses = [status_of(server) for _ in range(3 * rate)]
    elapsed = time.monotonic() - started
    admitted = sum(s.startswith("HTTP/1.1 101 ") for s in statuses)
    refused = [s for s in statuses if " 429 " in s]
    assert admitted + len(refused) == len(statuses), set(statuses)
    assert rate <= admitted <= rate + elapsed * rate + 1, (admitted, elapsed)
    assert refused[0] == ("HTTP/1.1 429 too many new connections from your address "
                          f"(at most {rate} a second)")


def test_a_trusted_proxys_clients_count_each_for_themselves(
        make_server: Callable[..., IncomingServer]) -> None:
    """Behind --trusted-proxy, X-Forwarded-For names the client each cap applies to."""
    server = make_server(max_connections_per_address=1, trusted_proxy=["127.0.0.1"])
    first = handshake(server, forwarded_for="198.51.100.1")
    second = handshake(server, forwarded_for="203.0.113.9, 198.51.100.2")
    with first as (one, _), second as (two, _):
        assert one.startswith("HTTP/1.1 101 ") and two.startswith("HTTP/1.1 101 ")
        assert " 429 " in status_of(server, forwarded_for="198.51.100.1")
        assert " 429 " in status_of(server, forwarded_for="10.0.0.1, 198.51.100.2")
        assert status_of(server, forwarded_for="198.51.100.3").startswith("HTTP/1.1 101 ")
    server.wait_for_log(r"refused an upload connection from 198\.51\.100\.1 ")


def test_past_max_connections_the_public_listener_answers_503(
        make_server: Callable[..., IncomingServer]) -> None:
    """Past --max-connections in total, a connection gets 503 with a reason and is closed;
    logged in a line, not per connection."""
    server = make_server(max_connections=4)
    held = [Connection(server) for _ in range(4)]
    answers = []
    for _ in range(30):
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(b"GET /incoming/0.1/frontend/incoming.js HTTP/1.1\r\nHost: x\r\n\r\n")
            answers.append(sock.recv(4096))
            assert sock.recv(10) == b"", "closed after the answer"
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert body == b"too many connections, try again later\n"
    for conn in held:
        conn.close()
    time.sleep(0.3)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET /incoming/0.1/frontend/incoming.js HTTP/1.0\r\nHost: x\r\n\r\n")
        assert sock.recv(12) == b"HTTP/1.0 200"
    lines = [line for line in server.log.splitlines() if "(max_connections)" in line]
    assert 1 <= len(lines) <= 11, len(lines)


@pytest.mark.time_limit(45)
def test_a_thousand_uploads_started_within_a_second_are_all_welcomed(
        make_server: Callable[..., IncomingServer], backend: FakeBackend) -> None:
    """With the default limits, 1000 upload connections from loopback, started within a
    second, all get their welcome; the server raised its open-file limit to do so (it
    started with a soft limit of 512)."""
    count = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(512, hard), hard))
    try:
        server = make_server()  # inherits the low soft limit
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # we need 1000+ too
    server.wait_for_log(rf"open-file limit: {hard}\b")
    api = BackendAPI(server.api_url)
    with ThreadPoolExecutor(16) as pool:
        tickets = list(pool.map(lambda _: api.new_upload(backend.callback_url()), range(count)))
    socks = []
    started = time.monotonic()
    for _ in range(count):
        sock = socket.create_connection((server.host, server.port), timeout=10)
        sock.sendall(upgrade_request(server))
        socks.append(sock)
    opening = time.monotonic() - started
    try:
        assert opening < 1.0, f"opening took {opening:.2f}s"
        for sock in socks:
            assert read_head(sock).startswith(b"HTTP/1.1 101 ")
        for sock, ticket in zip(socks, tickets, strict=True):
            sock.sendall(frame(OP_TEXT, b'{"type": "hello", "ticket": "%s", "size": 1}'
                               % ticket.encode()))
        welcomed = sum(b'"welcome"' in sock.recv(4096) for sock in socks)
        print(f"\n{count} connections opened in {opening:.2f}s, {welcomed} welcomed")
        assert welcomed == count
    finally:
        for sock in socks:
            sock.close()

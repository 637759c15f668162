"""A real upload from Chromium while hostile clients hammer the same server.

Raw sockets send what no browser would (unmasked frames, reserved opcodes,
control frames over 125 bytes, absurd lengths, continuations without a start,
invalid UTF-8, junk JSON, oversized text) and trickle HTTP requests one byte a
second. The upload must arrive byte for byte, every bad connection must get a
clean refusal (a close code or an HTTP status), the log must hold no traceback,
and the server's peak memory must stay under :data:`PEAK_RSS_BOUND`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from test.browser.conftest import OPTIONS, Browser
from test.support.backend import BackendAPI, FakeBackend
from test.support.proxy import CuttableProxy
from test.support.server import IncomingServer
from test.support.wsclient import OP_BINARY, OP_TEXT, frame

MiB = 1 << 20
UPLOAD_SIZE = 32 * MiB
PEAK_RSS_BOUND = 400 * MiB
"""The server's peak resident memory (VmHWM) for the whole run: an idle server is about
60 MiB, one upload's window 16 MiB, the write budget 64 MiB."""

pytestmark = pytest.mark.time_limit(90)


def _unmasked(opcode: int, payload: bytes) -> bytes:
    return bytes([0x80 | opcode, len(payload)]) + payload


def _header_only(opcode: int, length: int) -> bytes:
    return bytes([0x80 | opcode, 0xFF]) + struct.pack("!Q", length) + b"mask"


HELLO = json.dumps({"type": "hello", "ticket": "no-such-ticket-0000", "size": 10}).encode()
ATTACKS: dict[str, bytes] = {
    "unmasked frame": _unmasked(OP_TEXT, HELLO[:100]),
    "reserved opcode": frame(0x3, b"x"),
    "reserved control opcode": frame(0xB, b"x"),
    "ping over 125 bytes": frame(0x9, b"p" * 200),
    "close over 125 bytes": frame(0x8, b"\x03\xe8" + b"c" * 200),
    "absurd 64-bit binary length": _header_only(OP_BINARY, (1 << 63) - 1),
    "64-bit length with the top bit": _header_only(OP_BINARY, 1 << 63),
    "absurd 64-bit text length": _header_only(OP_TEXT, 1 << 40),
    "continuation without a start": frame(0x0, b"more"),
    "invalid UTF-8": frame(OP_TEXT, b'{"type": "hello", "ticket": "\xff\xfe\xfd"}'),
    "junk JSON": frame(OP_TEXT, b"{{{{ not json ]]"),
    "JSON that is no object": frame(OP_TEXT, b"[1, 2, 3]"),
    "oversized text message": frame(OP_TEXT, b'{"type": "hello", "pad": "' + b"p" * 40000
                                    + b'"}'),
    "binary before hello": frame(OP_BINARY, b"\x00" * 1000),
}


def _upgrade(host: str, port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /incoming/0.1/frontend/upload_ws HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n").encode()


def _close_code(sock: socket.socket) -> str:
    """Read server frames until its close frame; ``close NNNN``, or why there was none."""
    data = b""
    while True:
        while len(data) >= 2:
            length, at = data[1] & 0x7F, 2
            if length == 126:
                length, at = struct.unpack("!H", data[2:4])[0], 4
            elif length == 127:
                length, at = struct.unpack("!Q", data[2:10])[0], 10
            if len(data) < at + length:
                break
            opcode, payload, data = data[0] & 0x0F, data[at:at + length], data[at + length:]
            if opcode == 0x8:
                return f"close {struct.unpack('!H', payload[:2])[0]}" if payload else "close"
        try:
            chunk = sock.recv(65536)
        except OSError as e:
            return f"dropped ({type(e).__name__})"
        if not chunk:
            return "dropped"
        data += chunk


def attack(host: str, port: int, name: str) -> str:
    """One hostile connection: handshake, then the attack; how the server ended it."""
    with socket.create_connection((host, port), timeout=15) as sock:
        sock.sendall(_upgrade(host, port))
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        if not head.startswith(b"HTTP/1.1 101 "):
            return "http " + head.split(b" ", 2)[1].decode()
        try:
            sock.sendall(ATTACKS[name])
        except OSError as e:
            return f"dropped ({type(e).__name__})"
        return _close_code(sock)


def trickle(host: str, port: int, stop: threading.Event, outcome: dict[str, Any]) -> None:
    """An HTTP request one byte every half second, until the server answers or closes, or the
    test ends; ``outcome["result"]`` says which (the server's status line, if it sent one)."""
    request = b"GET /incoming/0.1/frontend/incoming.js HTTP/1.1\r\nHost: x\r\nX-Slow: " \
        + b"s" * 200
    with socket.create_connection((host, port), timeout=2) as sock:
        for byte in request:
            if select.select([sock], [], [], 0)[0]:
                answer = sock.recv(4096)
                outcome["result"] = answer.split(b"\r\n")[0].decode() or "closed by the server"
                return
            if stop.wait(0.5):
                outcome["result"] = "still open when the upload finished"
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                outcome["result"] = "closed by the server"
                return
        outcome["result"] = "sent it all"


def peak_rss(server: IncomingServer) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


@pytest.fixture
def hostile_server(make_module_server: Callable[..., IncomingServer]) -> IncomingServer:
    return make_module_server(**OPTIONS, request_timeout="2s")


def test_an_upload_from_chromium_survives_hostile_neighbours(
        hostile_server: IncomingServer, backend: FakeBackend, page_url: str) -> None:
    """While raw sockets send malformed frames and trickle requests, Chromium's upload arrives
    byte-identical; every bad connection is refused cleanly; no traceback; bounded memory."""
    server = hostile_server
    api = BackendAPI(server.api_url)
    ticket = api.new_upload(backend.callback_url(), backend_secret="app-secret")
    browser = Browser("chromium", page_url, server)
    outcomes: Counter[tuple[str, str]] = Counter()
    stop = threading.Event()
    trickles = [{} for _ in range(5)]
    trickle_threads = [threading.Thread(target=trickle, args=(server.host, server.port, stop, t),
                                        daemon=True) for t in trickles]

    def hammer() -> None:
        while not stop.is_set():
            for name in ATTACKS:
                outcomes[(name, attack(server.host, server.port, name))] += 1

    hammers = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    with CuttableProxy(server.port, rate=8 * MiB) as slow:  # about four seconds of upload
        running = browser.start([{"ticket": ticket, "size": UPLOAD_SIZE, "name": "calm.bin"}],
                                upload_host=f"127.0.0.1:{slow.port}")
        for thread in trickle_threads + hammers:
            thread.start()
        try:
            [result] = browser.collect(running, timeout=75)
        finally:
            stop.set()
            for thread in hammers + trickle_threads:
                thread.join(20)
    rss = peak_rss(server)
    print(f"\nupload {UPLOAD_SIZE} bytes in {result['seconds']:.1f}s: {result['outcome']}; "
          f"{sum(outcomes.values())} hostile connections, server peak RSS "
          f"{rss / MiB:.0f} MiB (bound {PEAK_RSS_BOUND / MiB:.0f} MiB)")
    for (name, how), count in sorted(outcomes.items()):
        print(f"  {count:4d} x {name}: {how}")
    print("  trickling requests: " + ", ".join(t.get("result", "?") for t in trickles))

    assert result["outcome"] == "finished", result
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == result["sha256"] == callback.file_sha256
    assert int(callback.form["size"]) == UPLOAD_SIZE
    assert sum(outcomes.values()) >= 2 * len(ATTACKS), "every attack ran at least twice"
    # A close frame over 125 bytes: Autobahn answers close 1002, then reads the rest of the
    # payload as a second violation and closes the socket with bytes unread, so the kernel
    # resets it and the client may lose the 1002 (reported to the lead; ended, not hung).
    unclean = {key: n for key, n in outcomes.items()
               if not re.fullmatch(r"close (100[27]|40\d\d)|http [45]\d\d", key[1])
               and not (key[0] == "close over 125 bytes" and key[1].startswith("dropped"))}
    assert unclean == {}, "each bad connection gets a close code or an HTTP status"
    assert [t.get("result") for t in trickles] == ["HTTP/1.1 408 Request Timeout"] * 5
    assert server.errors_in_log() == [], server.error_report()
    assert rss < PEAK_RSS_BOUND

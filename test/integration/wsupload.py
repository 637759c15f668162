"""An upload client for the integration tests, wrapped around
:class:`test.support.wsclient.WSClient`.

:class:`Connection` remembers every message the server sent, keeps track of
the acknowledged offset, and sends file bytes as the protocol allows (at most
``chunkSize`` per message, at most ``window`` beyond the last ack) — or, when a
test asks, as it does not allow.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import select
import socket
import struct
import time
from typing import Any

from test.support.server import IncomingServer
from test.support.wsclient import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, Closed, WSClient, frame

FINAL_STATES = ("finished",)


def make_data(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Connection:
    """One WebSocket connection to the upload endpoint."""

    def __init__(self, server: IncomingServer, timeout: float = 10.0,
                 port: int | None = None, tls: bool = False) -> None:
        self.ws = WSClient(server.host, port or server.port, server.ws_path, timeout=timeout,
                           tls=tls)
        self.messages: list[dict[str, Any]] = []
        self.welcome: dict[str, Any] | None = None
        self.acked = 0
        self.sent = 0
        """Offset just past the last byte sent."""
        self.chunk_size = 0
        self.window = 0
        self.close_code: int | None = None
        self.closed = False

    # -- the conversation --------------------------------------------------------------------------

    def hello(self, ticket: str, size: int, filename: str = "test.bin") -> dict[str, Any]:
        """Say hello; the answer (a welcome, or an error)."""
        self.ws.send_json({"type": "hello", "ticket": ticket, "size": size, "filename": filename})
        answer = self.next()
        if answer["type"] == "welcome":
            self.welcome = answer
            self.acked = self.sent = answer["offset"]
            self.chunk_size = answer["chunkSize"]
            self.window = answer["window"]
        return answer

    def send_json(self, message: dict[str, Any]) -> None:
        self.ws.send_json(message)

    def send_binary(self, data: bytes) -> None:
        """One binary message, as it is (no checks)."""
        self.ws.send_binary(data)
        self.sent += len(data)

    def send_data(self, data: bytes, upto: int | None = None, chunk: int | None = None) -> None:
        """Send ``data[self.sent:upto]`` as the protocol allows: chunks, within the window."""
        assert self.welcome is not None, "no welcome"
        end = len(data) if upto is None else upto
        chunk = min(chunk or self.chunk_size, self.chunk_size)
        while self.sent < end:
            piece = data[self.sent:min(self.sent + chunk, end)]
            while self.sent + len(piece) - self.acked > self.window:
                self.next()
            self.ws.send_binary(piece)
            self.sent += len(piece)
            self.drain()

    def wait_for_ack(self, offset: int) -> int:
        """Read until an ack reaches ``offset``; the acked offset."""
        while self.acked < offset:
            self.next()
        return self.acked

    # -- receiving ---------------------------------------------------------------------------------

    def next(self) -> dict[str, Any]:
        """The next text message (recorded); raises :class:`Closed` when the server closes
        (and again on every later call)."""
        if self.closed and self.close_code is not None:
            raise Closed(self.close_code, "closed before")
        try:
            message = self.ws.receive()
        except Closed as e:
            self.closed = True
            self.close_code = e.code
            raise
        self.messages.append(message)
        if message.get("type") == "ack":
            assert message["offset"] >= self.acked, f"ack went back: {message} after {self.acked}"
            self.acked = message["offset"]
        return message

    def drain(self) -> None:
        """Read the messages that have arrived already, without waiting for more. A close
        among them ends the reading (recorded): a server may finish an upload and close
        before the client has read what came before."""
        with contextlib.suppress(Closed):
            while self.ws._buffer or select.select([self.ws.sock], [], [], 0)[0]:
                self.next()

    def quiet_for(self, seconds: float) -> list[dict[str, Any]]:
        """Listen for ``seconds`` (answering pings); the text messages that came meanwhile.

        Unlike a socket timeout, the deadline holds even when pings keep arriving.
        """
        deadline = time.monotonic() + seconds
        arrived: list[dict[str, Any]] = []
        previous = self.ws.sock.gettimeout()
        try:
            while (left := deadline - time.monotonic()) > 0:
                if not self.ws._buffer and not select.select([self.ws.sock], [], [], left)[0]:
                    break
                self.ws.sock.settimeout(max(left, 0.5))  # a frame that began arrives whole
                opcode, payload = self.ws._read_frame()
                if opcode == OP_PING:
                    self.ws.sock.sendall(frame(OP_PONG, payload))
                elif opcode == OP_TEXT:
                    message = json.loads(payload)
                    self.messages.append(message)
                    arrived.append(message)
                elif opcode == OP_CLOSE:
                    self.closed = True
                    self.close_code = (struct.unpack("!H", payload[:2])[0]
                                       if len(payload) >= 2 else None)
                    raise Closed(self.close_code, payload[2:].decode(errors="replace"))
        finally:
            self.ws.sock.settimeout(previous)
        return arrived

    def wait_for(self, kind: str, **match: Any) -> dict[str, Any]:
        """Read until a message of type ``kind`` with members ``match``."""
        while True:
            message = self.next()
            if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                return message

    def until_closed(self) -> int | None:
        """Read (recording) until the server closes; the close code (None: no close frame)."""
        try:
            while True:
                self.next()
        except Closed:
            return self.close_code

    def expect_error(self, code: int) -> dict[str, Any]:
        """Read until the error message, check it and the close code 4000 + code; the message."""
        while True:
            try:
                message = self.next()
            except Closed as e:
                errors = self.of_type("error")  # perhaps read already, by drain()
                if not errors:
                    raise AssertionError(f"closed ({e.code}) without an error message; got "
                                         f"{self.messages}") from None
                message = errors[-1]
                break
            if message["type"] == "error":
                break
        assert message["code"] == code, message
        assert isinstance(message.get("message"), str) and message["message"], message
        assert self.until_closed() == 4000 + code, (self.close_code, self.messages)
        return message

    @property
    def states(self) -> list[str]:
        return [m["state"] for m in self.messages if m["type"] == "state"]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    # -- ending ------------------------------------------------------------------------------------

    def drop(self) -> None:
        """End the TCP connection abruptly (RST, no close frame), as a lost network does."""
        with contextlib.suppress(OSError):
            self.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.ws.close()
        self.closed = True

    def close(self) -> None:
        self.ws.close()
        self.closed = True

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def upload(server: IncomingServer, ticket: str, data: bytes, filename: str = "test.bin",
           chunk: int | None = None) -> Connection:
    """A whole upload on one connection, read to the server's close; the connection."""
    conn = Connection(server)
    try:
        welcome = conn.hello(ticket, len(data), filename)
        assert welcome["type"] == "welcome", welcome
        conn.send_data(data, chunk=chunk)
        conn.until_closed()
    finally:
        conn.close()
    return conn


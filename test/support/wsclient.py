"""A small blocking WebSocket client for tests: speaks the upload protocol byte by byte.

It masks frames as browsers must, and it will send whatever a test asks —
oversized chunks, bytes before hello, broken JSON — which a polished client
library would refuse to do.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import ssl
import struct
from typing import Any

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``key`` repeated (fast enough for test sizes)."""
    if not payload:
        return payload
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        len(payload), "little")


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    key = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + key + mask(payload, key)


class WSClient:
    def __init__(self, host: str, port: int, path: str = "/incoming/0.1/frontend/upload_ws",
                 timeout: float = 10.0, tls: bool = False) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls:  # the tests' servers have self-signed certificates
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self.sock = context.wrap_socket(self.sock, server_hostname=host)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: http://{host}:{port}\r\n\r\n".encode())
        self._buffer = b""
        head = self._read_until(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"handshake refused: {head[:200]!r}")

    # -- sending ------------------------------------------------------------------------------

    def send_json(self, message: dict[str, Any]) -> None:
        self.sock.sendall(frame(OP_TEXT, json.dumps(message).encode()))

    def send_text(self, text: bytes) -> None:
        self.sock.sendall(frame(OP_TEXT, text))

    def send_binary(self, data: bytes) -> None:
        self.sock.sendall(frame(OP_BINARY, data))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def hello(self, ticket: str, size: int, filename: str = "test.bin") -> dict[str, Any]:
        self.send_json({"type": "hello", "ticket": ticket, "size": size, "filename": filename})
        return self.receive()

    # -- receiving ----------------------------------------------------------------------------

    def receive(self) -> dict[str, Any]:
        """The next text message as JSON; raises :class:`Closed` on a close frame."""
        while True:
            opcode, payload = self._read_frame()
            if opcode == OP_TEXT:
                return json.loads(payload)
            if opcode == OP_PING:
                self.sock.sendall(frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                with contextlib.suppress(OSError):
                    self.sock.sendall(frame(OP_CLOSE, payload[:2]))
                raise Closed(code, payload[2:].decode(errors="replace"))

    def receive_until(self, kind: str, **match: Any) -> dict[str, Any]:
        """Skip messages (acks, states) until one of type ``kind`` matching ``match``."""
        while True:
            message = self.receive()
            if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                return message

    def close_code(self) -> int | None:
        """Read until the server closes; its close code."""
        try:
            while True:
                self.receive()
        except Closed as e:
            return e.code

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def _read_frame(self) -> tuple[int, bytes]:
        first, second = self._read_exactly(2)
        n = second & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exactly(8))[0]
        return first & 0x0F, self._read_exactly(n)

    def _read_exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(None, "connection dropped")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed during handshake")
            self._buffer += chunk
        head, self._buffer = self._buffer.split(marker, 1)
        return head

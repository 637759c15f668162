"""Just enough RFC 6455 for the benchmark client and the stand-in server.

Client frames are masked with a fresh random 4-byte key each, as browsers send them.
The masking uses Python's big integers (one XOR over a whole message, ~2.7 ms per MiB here):
it is only ever done before the timed part, so it needs no numpy.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_value(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` that answers ``Sec-WebSocket-Key`` ``key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def header(opcode: int, length: int, mask_key: bytes | None) -> bytes:
    """The frame header of one final frame (FIN set), with the mask key if any."""
    first = 0x80 | opcode
    mask_bit = 0x80 if mask_key is not None else 0
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    return head + (mask_key or b"")


def header_length(length: int, masked: bool) -> int:
    base = 2 if length < 126 else 4 if length < 1 << 16 else 10
    return base + (4 if masked else 0)


def xor_mask(payload: bytes | bytearray | memoryview, mask_key: bytes) -> bytes:
    """``payload`` XOR the repeated ``mask_key`` (masking and unmasking are the same)."""
    length = len(payload)
    if length == 0:
        return b""
    repeated = (mask_key * (length // 4 + 1))[:length]
    mixed = int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")
    return mixed.to_bytes(length, "little")


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One whole masked frame, as a browser sends it."""
    mask_key = os.urandom(4)
    return header(opcode, len(payload), mask_key) + xor_mask(payload, mask_key)


def server_frame(opcode: int, payload: bytes) -> bytes:
    """One whole unmasked frame, as a server sends it."""
    return header(opcode, len(payload), None) + payload


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()


@dataclass(frozen=True)
class Message:
    opcode: int  # OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING or OP_PONG
    payload: bytes


class MessageParser:
    """Turns bytes received from a server (unmasked frames) into whole messages.

    Only for the small control and JSON messages a server sends back; file bytes never pass
    through it, so simplicity beats speed here.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0

    def feed(self, data: bytes) -> Iterator[Message]:
        self._buffer += data
        while True:
            frame = self._take_frame()
            if frame is None:
                return
            fin, opcode, payload = frame
            if opcode >= OP_CLOSE:  # control frames may come between fragments
                yield Message(opcode, payload)
                continue
            if opcode != OP_CONTINUATION:
                self._fragment_opcode = opcode
            self._fragments.append(payload)
            if fin:
                yield Message(self._fragment_opcode, b"".join(self._fragments))
                self._fragments = []

    def _take_frame(self) -> tuple[bool, int, bytes] | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        fin = bool(buf[0] & 0x80)
        opcode = buf[0] & 0x0F
        masked = bool(buf[1] & 0x80)
        length = buf[1] & 0x7F
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return None
            (length,) = struct.unpack_from("!H", buf, 2)
            pos = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            (length,) = struct.unpack_from("!Q", buf, 2)
            pos = 10
        mask_key = b""
        if masked:
            if len(buf) < pos + 4:
                return None
            mask_key = bytes(buf[pos : pos + 4])
            pos += 4
        if len(buf) < pos + length:
            return None
        payload = bytes(buf[pos : pos + length])
        del buf[: pos + length]
        if masked:
            payload = xor_mask(payload, mask_key)
        return fin, opcode, payload

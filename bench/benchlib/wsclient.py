"""A benchmark client of the Incoming!! upload protocol (docs/protocol.rst), N uploads at once.

It behaves on the wire as the browser library does: masked frames of at most ``chunkSize``
bytes, never more than ``window`` bytes beyond the last ``ack``, and it reads every ack as
it arrives. It is not a general client: no pause, no reconnect — a benchmark run that loses
its connection has failed and says so.

Cheap by construction (see frames.py): file bytes leave with ``os.sendfile`` from a
pre-masked frame stream, and one ``sendfile`` call covers every frame the window allows.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from . import wsproto
from .frames import FrameStream

UPLOAD_PATH = "/incoming/0.1/frontend/upload_ws"

# Twisted listens with a backlog of 50: more simultaneous connects than that would wait for
# SYN retransmits (a second each) and measure the kernel, not the server.
MAX_CONNECTING = 25


@dataclass
class UploadResult:
    ticket: str
    size: int
    first_byte_at: float | None = None  # perf_counter() when the first file byte left
    acked_all_at: float | None = None
    stored_at: float | None = None
    finished_at: float | None = None
    states: list[str] = field(default_factory=list)
    welcome: dict | None = None
    error: str | None = None


class Upload:
    """One upload over one WebSocket connection, driven by the selector loop below."""

    def __init__(
        self, port: int, ticket: str, filename: str, frames_for: Callable[[int], FrameStream]
    ):
        self.port = port
        self.ticket = ticket
        self.filename = filename
        self._frames_for = frames_for  # chunkSize → FrameStream (known only after welcome)
        self.frames: FrameStream | None = None
        self.result = UploadResult(ticket, 0)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.done = False
        self.welcomed = False
        self._key = wsproto.new_key()
        self._control = bytearray()  # handshake, hello, pong, close: sent between frames only
        self._handshaken = False
        self._head = bytearray()
        self._parser = wsproto.MessageParser()
        self._stream_fd = -1
        self._stream_pos = 0  # next byte of the frame stream file to send
        self._frames_done = 0  # frames sent whole; control frames may go only between them
        self._acked = 0
        self._window = 0
        self._sending = False

    def start(self, size: int) -> None:
        self.result.size = size
        err = self.sock.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, os.strerror(err))
        self._control += (
            f"GET {UPLOAD_PATH} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{self.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self._key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{self.port}\r\n\r\n"
        ).encode()

    # -- what the loop asks ------------------------------------------------------------

    def wants_write(self) -> bool:
        if self.done:
            return False
        if self._control and self._at_frame_boundary():
            return True
        return self._sending and self._stream_pos < self._allowed_end()

    def _at_frame_boundary(self) -> bool:
        if self.frames is None:
            return True
        return self._stream_pos == self.frames.stream_end_of(self._frames_done)

    def _allowed_end(self) -> int:
        assert self.frames is not None
        allowed = self.frames.frames_allowed(self._acked, self._window)
        return self.frames.stream_end_of(allowed)

    # -- writing ---------------------------------------------------------------------------

    def on_writable(self) -> None:
        if self._control and self._at_frame_boundary():
            sent = self.sock.send(self._control)
            del self._control[:sent]
        elif self._sending:
            self._send_file_bytes()

    def _send_file_bytes(self) -> None:
        end = self._allowed_end()
        if self.result.first_byte_at is None:
            self.result.first_byte_at = time.perf_counter()  # the clock starts as bytes leave
        try:
            sent = os.sendfile(
                self.sock.fileno(), self._stream_fd, self._stream_pos, end - self._stream_pos
            )
        except BlockingIOError:
            return
        self._stream_pos += sent
        ends = self.frames.stream_ends
        while self._frames_done < len(ends) and ends[self._frames_done] <= self._stream_pos:
            self._frames_done += 1
        if self._frames_done == len(ends):
            self._sending = False

    # -- reading ---------------------------------------------------------------------------

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionError as e:
            self.fail(
                f"connection error: {e} (after states {self.result.states}, "
                f"{self._acked} of {self.result.size} bytes acked)"
            )
            return
        if not data:
            if not self.done:
                self.fail(f"the server closed the connection (after states {self.result.states})")
            return
        if not self._handshaken:
            self._head += data
            if b"\r\n\r\n" not in self._head:
                return
            head, _, rest = bytes(self._head).partition(b"\r\n\r\n")
            self._check_handshake(head.decode(errors="replace"))
            if self.done:
                return
            data = rest
        for message in self._parser.feed(data):
            self._on_message(message)
            if self.done:
                return

    def _check_handshake(self, head: str) -> None:
        lines = head.split("\r\n")
        if " 101 " not in lines[0] + " ":
            self.fail(f"WebSocket handshake refused: {lines[0]}")
            return
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        if headers.get("sec-websocket-accept") != wsproto.accept_value(self._key):
            self.fail("bad Sec-WebSocket-Accept")
            return
        self._handshaken = True
        hello = {
            "type": "hello",
            "ticket": self.ticket,
            "size": self.result.size,
            "filename": self.filename,
        }
        self._control += wsproto.client_frame(wsproto.OP_TEXT, json.dumps(hello).encode())

    def _on_message(self, message: wsproto.Message) -> None:
        if message.opcode == wsproto.OP_PING:
            self._control += wsproto.client_frame(wsproto.OP_PONG, message.payload)
        elif message.opcode == wsproto.OP_CLOSE:
            self._on_close(message.payload)
        elif message.opcode == wsproto.OP_TEXT:
            self._on_json(json.loads(message.payload))
        elif message.opcode == wsproto.OP_BINARY:
            self.fail("the server sent a binary message")

    def _on_json(self, msg: dict) -> None:
        kind = msg.get("type")
        now = time.perf_counter()
        if kind == "welcome":
            self._on_welcome(msg)
        elif kind == "ack":
            self._acked = max(self._acked, int(msg["offset"]))
            if self._acked >= self.result.size and self.result.acked_all_at is None:
                self.result.acked_all_at = now
        elif kind == "state":
            state = msg["state"]
            self.result.states.append(state)
            if state == "stored" and self.result.stored_at is None:
                self.result.stored_at = now
            elif state == "finished":
                self.result.finished_at = now
        elif kind in ("error", "cancelled"):
            self.fail(f"server said {msg}")

    def _on_welcome(self, msg: dict) -> None:
        self.welcomed = True
        self.result.welcome = msg
        self.frames = self._frames_for(int(msg["chunkSize"]))
        self._stream_fd = os.open(self.frames.path, os.O_RDONLY)
        self._window = int(msg["window"])
        self._acked = int(msg["offset"])
        self._frames_done = self.frames.frame_starting_at(self._acked)
        self._stream_pos = self.frames.stream_end_of(self._frames_done)
        self._sending = self._acked < self.result.size

    def _on_close(self, payload: bytes) -> None:
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
        if self.result.finished_at is None:
            self.fail(
                f"closed by the server with code {code}: {payload[2:].decode(errors='replace')}"
            )
            return
        with contextlib.suppress(OSError):  # answer the close and leave; nothing else is owed
            self.sock.send(wsproto.client_frame(wsproto.OP_CLOSE, payload[:2]))
        self._finish()

    def fail(self, error: str) -> None:
        if self.result.error is None:
            self.result.error = error
        self._finish()

    def _finish(self) -> None:
        self.done = True
        if self._stream_fd >= 0:
            os.close(self._stream_fd)
            self._stream_fd = -1


def run_uploads(uploads: list[Upload], size: int, timeout: float) -> list[UploadResult]:
    """Drive ``uploads`` to their end (or ``timeout``), at most MAX_CONNECTING in handshake."""
    selector = selectors.DefaultSelector()
    waiting = deque(uploads)
    active: dict[Upload, int] = {}  # upload → the events it is registered for
    deadline = time.monotonic() + timeout
    try:
        while waiting or active:
            if time.monotonic() > deadline:
                for upload in list(active) + list(waiting):
                    upload.result.error = upload.result.error or f"timed out after {timeout}s"
                break
            connecting = sum(1 for u in active if not u.welcomed)
            while waiting and connecting < MAX_CONNECTING:
                upload = waiting.popleft()
                upload.start(size)
                active[upload] = 0
                connecting += 1
            _update_registrations(selector, active)
            for key, events in selector.select(timeout=0.5):
                upload = key.data
                if events & selectors.EVENT_READ:
                    upload.on_readable()
                if events & selectors.EVENT_WRITE and not upload.done:
                    try:
                        upload.on_writable()
                    except OSError as e:
                        upload.fail(f"send failed: {e}")
            for upload in [u for u in active if u.done]:
                if active[upload]:
                    selector.unregister(upload.sock)
                upload.sock.close()
                del active[upload]
    finally:
        for upload in active:
            upload.sock.close()
        selector.close()
    return [u.result for u in uploads]


def _update_registrations(selector: selectors.BaseSelector, active: dict[Upload, int]) -> None:
    for upload, registered in active.items():
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if upload.wants_write() else 0)
        if wanted == registered:
            continue
        if registered:
            selector.modify(upload.sock, wanted, upload)
        else:
            selector.register(upload.sock, wanted, upload)
        active[upload] = wanted

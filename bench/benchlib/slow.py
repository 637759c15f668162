"""Many slow uploads at once, on a schedule: the ``slow`` case of bench/throughput.

Every upload sends the same file in ``message`` pieces (16 KiB), one every
``interval`` (0.25 s: 64 KiB/s), starting as soon as it may send; its schedule
is ``pieces × interval``. One selector loop in this process drives them all:

``ws``   over the WebSocket face, as the library does: handshake, ``hello``, then
         one masked binary message per piece (pre-masked once: ``frames.py``);
         done at ``state: stored``.
``tus``  over the tus face: a ``POST`` creating each upload (before the timed part),
         then one ``PATCH`` per upload whose body trickles in on the schedule; done
         when the ``PATCH`` is answered (every byte written; the file is stored then
         or a moment later, and the handover sink checks it).

How late each upload completed is ``(done - first byte) / schedule``: the target is
every one within 1.1.
"""

from __future__ import annotations

import base64
import errno
import heapq
import json
import os
import selectors
import socket
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field

from . import wsproto
from .frames import FrameStream
from .wsclient import MAX_CONNECTING, UPLOAD_PATH

TUS_PATH = "/incoming/0.1/tus/"


@dataclass
class SlowResult:
    ticket: str
    first_byte_at: float | None = None
    done_at: float | None = None
    error: str | None = None
    states: list[str] = field(default_factory=list)


class SlowUpload:
    """One upload: ``preamble`` goes at connect; ``begin`` starts the schedule of ``pieces``."""

    def __init__(self, port: int, ticket: str, pieces: list[bytes]):
        self.port = port
        self.result = SlowResult(ticket)
        self.pieces = pieces
        self.next_piece = 0
        self.out = bytearray()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.ready = False  # may send pieces
        self.done = False
        self.inbox = bytearray()

    def connect(self) -> None:
        err = self.sock.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, os.strerror(err))
        self.out += self.preamble()

    def preamble(self) -> bytes:
        raise NotImplementedError

    def on_data(self, data: bytes) -> None:
        raise NotImplementedError

    def send_piece(self, now: float) -> None:
        if self.result.first_byte_at is None:
            self.result.first_byte_at = now
        self.out += self.pieces[self.next_piece]
        self.next_piece += 1

    def fail(self, error: str) -> None:
        if self.result.error is None:
            self.result.error = error
        self.done = True

    def finish(self, now: float) -> None:
        self.result.done_at = now
        self.done = True


class SlowWebSocket(SlowUpload):
    def __init__(self, port: int, ticket: str, pieces: list[bytes], size: int):
        super().__init__(port, ticket, pieces)
        self.size = size
        self.key = wsproto.new_key()
        self.parser = wsproto.MessageParser()
        self.handshaken = False

    def preamble(self) -> bytes:
        return (f"GET {UPLOAD_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {self.key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: http://127.0.0.1:{self.port}\r\n\r\n").encode()

    def on_data(self, data: bytes) -> None:
        if not self.handshaken:
            self.inbox += data
            if b"\r\n\r\n" not in self.inbox:
                return
            head, _, rest = bytes(self.inbox).partition(b"\r\n\r\n")
            if b" 101 " not in head.split(b"\r\n")[0] + b" ":
                self.fail(f"handshake refused: {head[:80]!r}")
                return
            self.handshaken, data = True, rest
            hello = {"type": "hello", "ticket": self.result.ticket, "size": self.size,
                     "filename": "slow.bin"}
            self.out += wsproto.client_frame(wsproto.OP_TEXT, json.dumps(hello).encode())
        for message in self.parser.feed(data):
            if message.opcode == wsproto.OP_PING:
                self.out += wsproto.client_frame(wsproto.OP_PONG, message.payload)
            elif message.opcode == wsproto.OP_CLOSE:
                if self.result.done_at is None:
                    self.fail(f"closed by the server: {bytes(message.payload)!r}")
                self.done = True
            elif message.opcode == wsproto.OP_TEXT:
                self._on_json(json.loads(message.payload))

    def _on_json(self, msg: dict) -> None:
        kind = msg.get("type")
        if kind == "welcome":
            if int(msg["offset"]) != 0:
                self.fail(f"welcome at offset {msg['offset']}")
            self.ready = True
        elif kind == "state":
            self.result.states.append(msg["state"])
            if msg["state"] == "stored":
                self.finish(time.perf_counter())
        elif kind in ("error", "cancelled"):
            self.fail(f"server said {msg}")


class SlowTus(SlowUpload):
    def __init__(self, port: int, ticket: str, pieces: list[bytes], size: int):
        super().__init__(port, ticket, pieces)
        self.size = size
        self.ready = True

    def preamble(self) -> bytes:
        return (f"PATCH {TUS_PATH}{self.result.ticket} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{self.port}\r\nTus-Resumable: 1.0.0\r\n"
                "Content-Type: application/offset+octet-stream\r\n"
                f"Upload-Offset: 0\r\nContent-Length: {self.size}\r\n\r\n").encode()

    def on_data(self, data: bytes) -> None:
        self.inbox += data
        if b"\r\n\r\n" not in self.inbox:
            return
        status = bytes(self.inbox).split(b"\r\n", 1)[0]
        if b" 204 " not in status + b" ":
            self.fail(f"PATCH answered {bytes(self.inbox)[:300]!r}")
        else:
            self.finish(time.perf_counter())


def create_tus_upload(port: int, ticket: str, size: int) -> None:
    """The tus creation request (untimed preparation)."""
    meta = f"ticket {base64.b64encode(ticket.encode()).decode()}," \
           f"filename {base64.b64encode(b'slow.bin').decode()}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{TUS_PATH}", method="POST", data=b"",
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(size), "Upload-Metadata": meta})
    with urllib.request.urlopen(request, timeout=30) as answer:
        if answer.status != 201:
            raise RuntimeError(f"tus creation answered {answer.status}")


def ws_pieces(frames: FrameStream) -> list[bytes]:
    """The pre-masked frames of the stream file, one per piece."""
    stream = frames.path.read_bytes()
    starts = [0, *frames.stream_ends[:-1]]
    return [stream[a:b] for a, b in zip(starts, frames.stream_ends, strict=True)]


def tus_pieces(data: bytes, message: int) -> list[bytes]:
    return [data[i:i + message] for i in range(0, len(data), message)]


def run_slow(uploads: list[SlowUpload], interval: float, timeout: float) -> None:
    """Drive every upload to its end (or ``timeout``): connect (at most MAX_CONNECTING at
    once), then one piece per ``interval`` each, reading whatever the server says."""
    selector = selectors.DefaultSelector()
    waiting = deque(uploads)
    connected: set[SlowUpload] = set()
    due: list[tuple[float, int, SlowUpload]] = []  # (when, tie-breaker, upload)
    scheduled: set[SlowUpload] = set()
    deadline = time.monotonic() + timeout
    touched: set[SlowUpload] = set()  # what may need other selector events
    while waiting or connected:
        now = time.perf_counter()
        if time.monotonic() > deadline:
            for upload in list(connected) + list(waiting):
                upload.fail(upload.result.error or f"timed out after {timeout:.0f} s")
            break
        while waiting and sum(1 for u in connected if not u.ready) < MAX_CONNECTING:
            upload = waiting.popleft()
            upload.connect()
            connected.add(upload)
            touched.add(upload)
            selector.register(upload.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, upload)
        for upload in [u for u in touched if u.ready and u not in scheduled]:
            scheduled.add(upload)
            heapq.heappush(due, (now, id(upload), upload))
        while due and due[0][0] <= now:
            when, tie, upload = heapq.heappop(due)
            if upload.done:
                continue
            upload.send_piece(now)
            touched.add(upload)
            if upload.next_piece < len(upload.pieces):
                heapq.heappush(due, (when + interval, tie, upload))
        for upload in touched:
            if upload.done:
                continue
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if upload.out else 0)
            if selector.get_key(upload.sock).events != events:
                selector.modify(upload.sock, events, upload)
        touched.clear()
        wait = min(due[0][0] - time.perf_counter(), 0.05) if due else 0.05
        for key, events in selector.select(max(wait, 0)):
            upload = key.data
            touched.add(upload)
            if events & selectors.EVENT_WRITE and upload.out:
                try:
                    sent = upload.sock.send(upload.out)
                    del upload.out[:sent]
                except BlockingIOError:
                    pass
                except OSError as e:
                    upload.fail(f"send failed: {e}")
            if events & selectors.EVENT_READ and not upload.done:
                try:
                    data = upload.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError as e:
                    upload.fail(f"connection error: {e}")
                    data = None
                if data == b"":
                    upload.fail(upload.result.error or "the server closed the connection")
                elif data:
                    upload.on_data(data)
        for upload in [u for u in touched if u.done and u in connected]:
            selector.unregister(upload.sock)
            upload.sock.close()
            connected.discard(upload)
    selector.close()

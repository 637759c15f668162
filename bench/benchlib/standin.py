"""A throwaway stand-in for the Incoming!! server, to test the benchmark clients against.

    python3 standin.py --listen-port 0 --storage-dir DIR [--discard]

Not the product and not a model of it: blocking sockets, one thread per connection, just the
parts of docs/protocol.rst the benchmarks use (new_upload; hello → welcome, binary messages,
acks, stored → handing_over → finished, close 1000) and the handover callback. It serves
``incoming.js`` from js/standin_incoming.js so the browser harness can be tried too.

``--discard`` skips unmasking and writing: the stand-in then only parses frame headers and
acknowledges, which measures how fast the benchmark client alone can send.

Prints ``LISTENING <port>`` when ready.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import socket
import struct
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchlib import wsproto  # noqa: E402

CHUNK_SIZE = 1 << 20
WINDOW = 8 << 20
LIBRARY = Path(__file__).resolve().parent.parent / "js" / "standin_incoming.js"

tickets: dict[str, dict] = {}


class Reader:
    """Exact reads from a blocking socket through one reusable buffer."""

    def __init__(self, sock: socket.socket, initial: bytes = b""):
        self.sock = sock
        self.pending = bytearray(initial)

    def read(self, n: int) -> bytes:
        while len(self.pending) < n:
            chunk = self.sock.recv(max(65536, n - len(self.pending)))
            if not chunk:
                raise ConnectionError("peer closed")
            self.pending += chunk
        data = bytes(self.pending[:n])
        del self.pending[:n]
        return data

    def skip_into(self, scratch: memoryview, n: int) -> None:
        """Read and drop ``n`` bytes (the ``--discard`` path: no copy we keep)."""
        take = min(n, len(self.pending))
        del self.pending[:take]
        n -= take
        while n:
            got = self.sock.recv_into(scratch[: min(n, len(scratch))])
            if not got:
                raise ConnectionError("peer closed")
            n -= got


def read_head(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the request head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
    }
    return lines[0], headers, rest


def http_answer(sock: socket.socket, status: str, body: bytes, content_type: str) -> None:
    sock.sendall(
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nAccess-Control-Allow-Origin: *\r\n"
        "Connection: close\r\n\r\n".encode()
        + body
    )


def serve_connection(sock: socket.socket, args: argparse.Namespace) -> None:
    try:
        request_line, headers, rest = read_head(sock)
        method, target, _ = request_line.split(" ", 2)
        path, _, query = target.partition("?")
        if path.endswith("/backend/new_upload") and method == "POST":
            body = rest
            while len(body) < int(headers.get("content-length", 0)):
                body += sock.recv(65536)
            form = urllib.parse.parse_qs(query + "&" + body.decode())
            ticket = secrets.token_urlsafe(16)
            tickets[ticket] = {"signalFinishURL": form["signalFinishURL"][0]}
            http_answer(sock, "200 OK", ticket.encode(), "text/plain")
        elif path.endswith("/frontend/incoming.js"):
            http_answer(sock, "200 OK", LIBRARY.read_bytes(), "text/javascript")
        elif (
            path.endswith("/frontend/upload_ws")
            and "websocket" in headers.get("upgrade", "").lower()
        ):
            accept = wsproto.accept_value(headers["sec-websocket-key"])
            sock.sendall(
                (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                ).encode()
            )
            serve_upload(sock, Reader(sock, rest), args)
        else:
            http_answer(sock, "404 Not Found", b"not here\n", "text/plain")
    except (ConnectionError, OSError) as e:
        print(f"connection ended: {e}", file=sys.stderr, flush=True)
    finally:
        sock.close()


def read_frame_header(reader: Reader) -> tuple[bool, int, int, bytes]:
    """(fin, opcode, payload length, mask key) of the next frame."""
    first, second = reader.read(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", reader.read(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", reader.read(8))
    mask_key = reader.read(4) if second & 0x80 else b""
    return bool(first & 0x80), first & 0x0F, length, mask_key


def send_json(sock: socket.socket, message: dict) -> None:
    sock.sendall(wsproto.server_frame(wsproto.OP_TEXT, json.dumps(message).encode()))


def serve_upload(sock: socket.socket, reader: Reader, args: argparse.Namespace) -> None:
    _, opcode, length, mask_key = read_frame_header(reader)
    hello = json.loads(wsproto.xor_mask(reader.read(length), mask_key))
    ticket = tickets.get(hello.get("ticket"))
    if opcode != wsproto.OP_TEXT or ticket is None:
        send_json(sock, {"type": "error", "code": 2, "message": "unknown ticket"})
        return
    size = int(hello["size"])
    send_json(
        sock,
        {
            "type": "welcome",
            "offset": 0,
            "chunkSize": CHUNK_SIZE,
            "window": WINDOW,
            "state": "uploading",
        },
    )
    digest = hashlib.sha256()
    scratch = memoryview(bytearray(CHUNK_SIZE))
    out_path = Path(args.storage_dir) / hello["ticket"]
    received = 0
    with open(out_path, "wb") as out:
        while received < size:
            # Chromium sends a big binary message as several frames (continuations).
            fin, opcode, length, mask_key = read_frame_header(reader)
            if opcode not in (wsproto.OP_BINARY, wsproto.OP_CONTINUATION):
                reader.read(length)  # a ping or a close: nothing the benchmark needs
                if opcode == wsproto.OP_CLOSE:
                    return
                continue
            if args.discard:
                reader.skip_into(scratch, length)
            else:
                data = wsproto.xor_mask(reader.read(length), mask_key)
                out.write(data)
                digest.update(data)
            received += length
            if fin:
                send_json(sock, {"type": "ack", "offset": received})
    send_json(sock, {"type": "state", "state": "stored"})
    send_json(sock, {"type": "state", "state": "handing_over"})
    form = {
        "id": hello["ticket"],
        "filename": str(out_path),
        "filenameFromBrowser": hello["filename"],
        "size": str(size),
        "sha256": "" if args.discard else digest.hexdigest(),
        "cancelled": "no",
        "cancelReason": "",
        "backendSecret": "",
    }
    with urllib.request.urlopen(
        ticket["signalFinishURL"], urllib.parse.urlencode(form).encode(), timeout=30
    ) as answer:
        answer.read()
    out_path.unlink()
    send_json(sock, {"type": "state", "state": "finished"})
    sock.sendall(wsproto.server_frame(wsproto.OP_CLOSE, wsproto.close_payload(1000)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument("--storage-dir", required=True)
    parser.add_argument("--discard", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.storage_dir, exist_ok=True)
    listener = socket.create_server(("127.0.0.1", args.listen_port), backlog=128)
    print(f"LISTENING {listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(conn, args), daemon=True).start()


if __name__ == "__main__":
    main()

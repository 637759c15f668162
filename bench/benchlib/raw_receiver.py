"""The receiving end of the raw ceilings: one TCP connection, nothing else.

    python3 raw_receiver.py --out FILE [--fsync]
    python3 raw_receiver.py --sha256

Prints ``LISTENING <port>`` (an ephemeral loopback port), accepts one connection and reads
it with ``recv_into`` a 1 MiB buffer. With ``--out`` it ``write``\\ s every read into FILE
(``--fsync``: and ``fdatasync``\\ s it at the end); with ``--sha256`` it only feeds every read
to a SHA-256, in the same thread, and keeps nothing. When the sender has shut down its side
it answers one byte ``k`` on the socket (that byte stops the sender's clock) and prints
``RECEIVED <bytes> <hex digest or ->``. Then it waits for its standard input to close before
exiting, so that the benchmark can still read its CPU time and peak RSS from /proc.

Writing into a file is what any upload server has to do at least, so its rate is the
ceiling. Hashing is the other thing Incoming!! must do with every byte; receiving and
hashing alone, storing nothing, is the ceiling for any server that hashes.
It runs in a process of its own, like a real server.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import sys
from collections.abc import Callable

BUFFER_SIZE = 1 << 20


def receive(conn: socket.socket, consume: Callable[[memoryview], object]) -> int:
    """Read ``conn`` until the sender shuts down, handing every read to ``consume``."""
    buffer = bytearray(BUFFER_SIZE)
    view = memoryview(buffer)
    received = 0
    while n := conn.recv_into(buffer):
        consume(view[:n])
        received += n
    return received


def receive_into_file(conn: socket.socket, out_path: str, sync: bool = False) -> int:
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def write(data: memoryview) -> None:
        while data:
            data = data[os.write(fd, data):]

    try:
        return receive(conn, write)
    finally:
        if sync:  # durable before the reply, as Incoming!! is before "stored"
            os.fdatasync(fd)
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser()
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="write what arrives into this file")
    target.add_argument("--sha256", action="store_true", help="only hash what arrives")
    parser.add_argument("--fsync", action="store_true", help="with --out: fdatasync at the end")
    args = parser.parse_args()
    if args.fsync and not args.out:
        parser.error("--fsync needs --out: there is no file to sync")
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"LISTENING {listener.getsockname()[1]}", flush=True)
    conn, _ = listener.accept()
    listener.close()
    if args.sha256:
        digest = hashlib.sha256()
        received, hex_digest = receive(conn, digest.update), digest.hexdigest()
    else:
        received, hex_digest = receive_into_file(conn, args.out, args.fsync), "-"
    conn.sendall(b"k")
    conn.close()
    print(f"RECEIVED {received} {hex_digest}", flush=True)
    sys.stdin.read()  # the benchmark closes it once it has read /proc


if __name__ == "__main__":
    main()

"""The receiving end of the raw ceiling: one TCP connection into one file, nothing else.

    python3 raw_receiver.py --out FILE

Prints ``LISTENING <port>`` (an ephemeral loopback port), accepts one connection, copies it
into FILE with ``recv_into`` a 1 MiB buffer and ``write``, and when the sender has shut down
its side answers one byte ``k`` on the socket: that byte stops the sender's clock. Then it
waits for its standard input to close before exiting, so that the benchmark can still read
its CPU time and peak RSS from /proc.

This is what any upload server has to do at least, so its rate is the ceiling.
It runs in a process of its own, like a real server.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

BUFFER_SIZE = 1 << 20


def receive_into_file(conn: socket.socket, out_path: str, sync: bool = False) -> int:
    buffer = bytearray(BUFFER_SIZE)
    view = memoryview(buffer)
    received = 0
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            n = conn.recv_into(buffer)
            if n == 0:
                break
            written = 0
            while written < n:
                written += os.write(fd, view[written:n])
            received += n
    finally:
        if sync:  # durable before the reply, as Incoming!! is before "stored"
            os.fdatasync(fd)
        os.close(fd)
    return received


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--fsync", action="store_true", help="fdatasync before answering")
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"LISTENING {listener.getsockname()[1]}", flush=True)
    conn, _ = listener.accept()
    listener.close()
    received = receive_into_file(conn, args.out, args.fsync)
    conn.sendall(b"k")
    conn.close()
    print(f"RECEIVED {received}", flush=True)
    sys.stdin.read()  # the benchmark closes it once it has read /proc


if __name__ == "__main__":
    main()

"""A TCP proxy on loopback that a test can cut, to prove clients survive lost connections.

It forwards each accepted connection to the target. :meth:`CuttableProxy.cut`
drops every open connection at once (an abortive close, as when a network
goes away); new connections are accepted as before. ``rate`` limits the
client-to-server direction in bytes per second, so that an upload lasts long
enough to be cut in the middle. ``flip_at`` damages the upload on the way: on
the first connection, the client-to-server byte at that position (counted
from the connection's first byte, handshake included) has its lowest bit
flipped. WebSocket client frames are masked, but flipping a masked payload
byte still flips the same bit of the unmasked payload: the server receives
one wrong byte (choose a position well inside the file's bytes).
"""

from __future__ import annotations

import socket
import struct
import threading
import time


class CuttableProxy:
    def __init__(self, target_port: int, rate: float | None = None,
                 flip_at: int | None = None) -> None:
        self._target = ("127.0.0.1", target_port)
        self._rate = rate
        self._flip_at = flip_at
        self.flipped = 0
        """How many bytes were flipped (0 or 1)."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.accepted = 0
        self.cuts = 0
        self._stopped = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def __enter__(self) -> CuttableProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cut(self) -> int:
        """Drop every open connection (RST); how many were dropped."""
        with self._lock:
            sockets, self._open = self._open, []
            self.cuts += 1
        for sock in sockets:
            _reset(sock)
        return len(sockets) // 2

    def close(self) -> None:
        self._stopped = True
        self._listener.close()
        self.cut()

    def _accept_loop(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._target, timeout=5)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._open += [client, server]
                self.accepted += 1
                # Every connection until one has flipped (a browser may spread HTTP
                # requests over several).
                flip_at = self._flip_at if not self.flipped else None
            threading.Thread(target=self._pump, args=(client, server, self._rate, flip_at),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, None), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, rate: float | None,
              flip_at: int | None = None) -> None:
        started, moved = time.monotonic(), 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                if (flip_at is not None and moved <= flip_at < moved + len(data)
                        and not self.flipped):
                    damaged = bytearray(data)
                    damaged[flip_at - moved] ^= 0x01
                    data = bytes(damaged)
                    self.flipped += 1
                sink.sendall(data)
                moved += len(data)
                if rate:
                    ahead = moved / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
        except OSError:
            _reset(source)
            _reset(sink)


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass

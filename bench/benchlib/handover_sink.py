"""The web-app backend's side of the handover: a tiny HTTP sink that answers ``done``.

Runs in a thread of the benchmark process (one request per upload, nothing on the hot path)
and records every callback, so the benchmark can check that the server stored exactly the
bytes sent (the ``sha256`` the server reports against the data file's).
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, as the web frameworks behind a real backend answer. (With http.server's
    # default HTTP/1.0 the server's pooled connections die after each callback; see README.)
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}
        self.server.sink.record(form)  # type: ignore[attr-defined]
        answer = b"done"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the benchmark prints its own report


class _Server(ThreadingHTTPServer):
    # The slow case stores a thousand uploads within a second: the default backlog of 5
    # overflowed, and callbacks waited for SYN retransmits until the server's timeout.
    request_queue_size = 2048


class HandoverSink:
    """``with HandoverSink() as sink: sink.url`` — the ``signalFinishURL`` for new tickets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.callbacks: dict[str, dict[str, str]] = {}
        self.arrived: dict[str, float] = {}  # ticket → perf_counter() of its callback
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.sink = self  # type: ignore[attr-defined]
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/handover"

    def record(self, form: dict[str, str]) -> None:
        with self._lock:
            self.callbacks[form.get("id", "")] = form
            self.arrived[form.get("id", "")] = time.perf_counter()

    def check(self, ticket: str, sha256: str, size: int) -> str | None:
        """None if the server handed ``ticket`` over with the right digest and size."""
        with self._lock:
            form = self.callbacks.get(ticket)
        if form is None:
            return f"no handover callback for ticket {ticket}"
        if form.get("cancelled") != "no":
            return f"ticket {ticket} was handed over as cancelled: {form}"
        if form.get("size") != str(size):
            return f"ticket {ticket}: handover size {form.get('size')} != {size}"
        if form.get("sha256") and form["sha256"] != sha256:
            return f"ticket {ticket}: stored sha256 {form['sha256']} differs from the data's"
        return None

    def __enter__(self) -> HandoverSink:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

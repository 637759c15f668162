"""A fake web-app backend, and a client for the Incoming!! backend API.

:class:`FakeBackend` is a real HTTP server on a loopback port, run by
``http.server.ThreadingHTTPServer`` in its own threads, so it works whatever
the test's reactor is doing. It records every handover callback it receives
(form values parsed) and answers each with a programmable :class:`Answer`:
``done``, ``wait``, an HTTP error, a body that is neither, a delay, a hold
until the test releases it, or a dropped connection. Answers are scripted per
ticket or for all tickets, as a sequence whose last element repeats.

:class:`BackendAPI` calls the server's backend API with ``urllib``, exactly
as a real web-app backend would.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_LIMIT = 60.0
"""A held answer is given anyway after this long, so no thread hangs forever."""


# -- what the fake backend answers -----------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: str = "done"
    delay: float = 0.0
    """Seconds to wait before answering (to provoke the attempt timeout)."""
    drop: bool = False
    """Close the connection without any answer."""
    gate: threading.Event | None = None
    """Answer only once this event is set (see :meth:`FakeBackend.hold`)."""
    headers: tuple[tuple[str, str], ...] = ()
    """More response headers (a ``Location`` for a redirect)."""

    def __str__(self) -> str:
        if self.drop:
            return "drop"
        text = f"{self.status} {self.body!r}"
        if self.delay:
            text += f" after {self.delay:g}s"
        if self.gate is not None:
            text += " when released"
        return text


DONE = Answer(body="done")
WAIT = Answer(body="wait")
DROP = Answer(drop=True)


def http_error(status: int = 500, body: str = "internal server error") -> Answer:
    return Answer(status=status, body=body)


def body(text: str, status: int = 200) -> Answer:
    """A 2xx answer with any body (``"maybe"`` is neither done nor wait)."""
    return Answer(status=status, body=text)


def delayed(seconds: float, then: Answer = DONE) -> Answer:
    return Answer(status=then.status, body=then.body, delay=seconds, drop=then.drop)


def _as_answer(value: Answer | str | int) -> Answer:
    if isinstance(value, Answer):
        return value
    if isinstance(value, int):
        return http_error(value)
    if value == "drop":
        return DROP
    return body(value)


@dataclass
class Callback:
    """One request the backend received."""

    path: str
    method: str
    form: dict[str, str]
    """Form values, the last one of each name (see ``raw_form`` for repeats)."""
    raw_form: dict[str, list[str]]
    content_type: str
    received_at: float
    """``time.monotonic()`` when it arrived."""
    headers: dict[str, str] = field(default_factory=dict)
    """Request headers, names lower-cased."""
    raw_body: bytes = b""
    """The request body exactly as received (what a signature covers)."""
    file_existed: bool = False
    """Whether ``form["filename"]`` named an existing file when the callback arrived."""
    file_sha256: str = ""
    file_size: int = -1
    answer: Answer | None = None

    @property
    def ticket_id(self) -> str:
        return self.form.get("id", "")

    @property
    def cancelled(self) -> bool:
        return self.form.get("cancelled") == "yes"


class FakeBackend:
    """A web-app backend that takes handover callbacks at ``callback_url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Condition()
        self._callbacks: list[Callback] = []
        self._default: list[Answer] = [DONE]
        self._scripts: dict[str, list[Answer]] = {}
        self._gates: list[threading.Event] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life --------------------------------------------------------------------------------------

    def start(self) -> FakeBackend:
        """Listen (on the port of a previous start, if there was one) and serve in a thread."""
        assert self._server is None, "already running"
        backend = self

        class Handler(_Handler):
            owner = backend

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"fake-backend-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: afterwards nothing answers on the port (connections are refused)."""
        server, self._server = self._server, None
        if server is None:
            return
        self.release_all()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def callback_url(self, path: str = "/incoming-callback") -> str:
        return self.url + path

    def __enter__(self) -> FakeBackend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- programming the answers -------------------------------------------------------------------

    def answer(self, ticket_id: str | None, *answers: Answer | str | int) -> None:
        """Answer callbacks for ``ticket_id`` (all tickets if None) with ``answers`` in turn.

        The last answer repeats. ``"done"``/``"wait"``/any string is a 200 with
        that body, an int is that HTTP status, ``"drop"`` drops the connection.
        """
        assert answers, "give at least one answer"
        script = [_as_answer(a) for a in answers]
        with self._lock:
            if ticket_id is None:
                self._default = script
            else:
                self._scripts[ticket_id] = script

    def hold(self, ticket_id: str | None, then: Answer | str = DONE) -> threading.Event:
        """Keep callbacks waiting until the returned event is set, then answer ``then``."""
        gate = threading.Event()
        then = _as_answer(then)
        self._gates.append(gate)
        self.answer(ticket_id,
                    Answer(status=then.status, body=then.body, drop=then.drop, gate=gate))
        return gate

    def release_all(self) -> None:
        for gate in self._gates:
            gate.set()

    def _next_answer(self, ticket_id: str) -> Answer:
        with self._lock:
            script = self._scripts.get(ticket_id, self._default)
            return script.pop(0) if len(script) > 1 else script[0]

    # -- what arrived ------------------------------------------------------------------------------

    @property
    def callbacks(self) -> list[Callback]:
        with self._lock:
            return list(self._callbacks)

    def callbacks_for(self, ticket_id: str) -> list[Callback]:
        return [c for c in self.callbacks if c.ticket_id == ticket_id]

    def wait_for_callbacks(self, ticket_id: str | None = None, count: int = 1,
                           timeout: float = 10.0,
                           where: Callable[[Callback], bool] = lambda c: True) -> list[Callback]:
        """Wait until ``count`` callbacks (for ``ticket_id``, matching ``where``) arrived; them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [c for c in self._callbacks
                         if (ticket_id is None or c.ticket_id == ticket_id) and where(c)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out after {timeout:g}s waiting for {count} callback(s) for "
                        f"{ticket_id}; got {len(found)}: {[c.form for c in found]}")
                self._lock.wait(min(left, 0.1))

    def _record(self, callback: Callback) -> None:
        with self._lock:
            self._callbacks.append(callback)
            self._lock.notify_all()


class _Handler(BaseHTTPRequestHandler):
    owner: FakeBackend
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        query = urllib.parse.urlsplit(self.path).query
        raw_form = urllib.parse.parse_qs(query, keep_blank_values=True)
        content_type = self.headers.get("Content-Type", "")
        if raw and content_type.startswith("application/x-www-form-urlencoded"):
            for name, values in urllib.parse.parse_qs(raw.decode("utf-8"),
                                                      keep_blank_values=True).items():
                raw_form.setdefault(name, []).extend(values)
        form = {name: values[-1] for name, values in raw_form.items()}
        callback = Callback(path=urllib.parse.urlsplit(self.path).path, method=self.command,
                            form=form, raw_form=raw_form, content_type=content_type,
                            received_at=time.monotonic(), raw_body=raw,
                            headers={k.lower(): v for k, v in self.headers.items()})
        filename = form.get("filename", "")
        if filename and os.path.isfile(filename):
            callback.file_existed = True
            callback.file_sha256, callback.file_size = _sha256_of(filename)
        answer = callback.answer = self.owner._next_answer(callback.ticket_id)
        self.owner._record(callback)
        if answer.gate is not None:
            answer.gate.wait(HOLD_LIMIT)
        if answer.delay:
            time.sleep(answer.delay)
        if answer.drop:
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        data = answer.body.encode()
        try:
            self.send_response(answer.status)
            if not any(name.lower() == "content-type" for name, _ in answer.headers):
                self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the server gave up on this attempt (its timeout) and closed
        self.close_connection = True


def _sha256_of(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


# -- the backend API, as a web-app backend calls it ------------------------------------------------

@dataclass
class APIResponse:
    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


class APIError(Exception):
    def __init__(self, name: str, response: APIResponse) -> None:
        super().__init__(f"{name}: HTTP {response.status}: {response.text.strip()}")
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class BackendAPI:
    """``new_upload``, ``cancel_upload``, ``finish_upload``, ``upload_status`` over HTTP."""

    api_url: str
    """``http://HOST:PORT/incoming/0.1/backend``."""
    timeout: float = 10.0
    _opener: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirects())

    def call(self, name: str, params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
             method: str = "POST", accept_json: bool = False, in_query: bool | None = None,
             headers: Mapping[str, str] | None = None) -> APIResponse:
        """One raw call; never raises for an HTTP status.

        Parameters whose value is None are left out.

        Parameters go in an urlencoded body for POST, in the query string
        otherwise (or wherever ``in_query`` says).
        """
        items = params.items() if isinstance(params, Mapping) else (params or [])
        pairs = [(k, _form_value(v)) for k, v in items if v is not None]
        encoded = urllib.parse.urlencode(pairs)
        url = f"{self.api_url}/{name}"
        data = None
        if in_query is None:
            in_query = method not in ("POST", "PUT", "PATCH")
        if in_query:
            url += ("?" + encoded) if encoded else ""
        else:
            data = encoded.encode()
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if accept_json:
            request.add_header("Accept", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return APIResponse(response.status, dict(response.headers.items()),
                                   response.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            with e:
                return APIResponse(e.code, dict(e.headers.items()), e.read().decode("utf-8"))

    def _ok(self, name: str, response: APIResponse) -> APIResponse:
        if not 200 <= response.status < 300:
            raise APIError(name, response)
        return response

    def new_upload(self, signal_finish_url: str, backend_secret: str | None = None,
                   remove_file_when_finished: bool | str | None = None,
                   dest_type: str | None = None, max_size: int | str | None = None) -> str:
        """Create a ticket; its ID."""
        response = self._ok("new_upload", self.call("new_upload", {
            "signalFinishURL": signal_finish_url, "backendSecret": backend_secret,
            "removeFileWhenFinished": remove_file_when_finished, "destType": dest_type,
            "maxSize": max_size,
        }))
        return response.text.strip()

    def cancel_upload(self, ticket_id: str, backend_secret: str = "") -> str:
        return self._ok("cancel_upload", self.call(
            "cancel_upload", {"id": ticket_id, "backendSecret": backend_secret})).text.strip()

    def finish_upload(self, ticket_id: str, backend_secret: str = "") -> str:
        return self._ok("finish_upload", self.call(
            "finish_upload", {"id": ticket_id, "backendSecret": backend_secret})).text.strip()

    def upload_status(self, ticket_id: str, backend_secret: str = "") -> dict[str, Any]:
        response = self._ok("upload_status", self.call(
            "upload_status", {"id": ticket_id, "backendSecret": backend_secret}, method="GET"))
        return response.json()


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

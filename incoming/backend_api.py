"""The backend HTTP API (docs/api.rst): what a web-app backend calls.

``/incoming/0.1/backend/{new_upload,cancel_upload,finish_upload,upload_status}``.
Parameters are form values, from the query string or an urlencoded (or
multipart) body; ``backendSecret`` may come as an ``Incoming-Backend-Secret``
header instead, which keeps it out of URLs and logs. Success is 200 with the
value as plain text, or a JSON object when the request accepts
``application/json``. Failure is a 4xx/5xx status with a one-line message
(``{"error": {"code", "name", "message"}}`` in JSON).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from incoming.callback_policy import CallbackPolicy, CallbackRefused
from incoming.config import parse_bool
from incoming.errors import ErrorCode, IncomingError
from incoming.handover import MAX_RESULT
from incoming.office import TicketOffice
from incoming.web import Folder, error_body, wants_json

MAX_URL = 2048
MAX_SECRET = 1024
SECRET_HEADER = "incoming-backend-secret"
DEST_TYPES = ("file",)


class BackendAPI(Folder):
    """The ``backend/`` folder: one child per call."""

    def __init__(self, office: TicketOffice,
                 callback_policy: CallbackPolicy | None = None) -> None:
        super().__init__()
        policy = callback_policy or CallbackPolicy()
        calls: dict[str, tuple[tuple[bytes, ...], Callable[[Request], Deferred[Any]]]] = {
            "new_upload": ((b"POST",), lambda r: _new_upload(office, policy, r)),
            "cancel_upload": ((b"POST",), lambda r: _with_ticket(office.cancel_by_backend, r)),
            "finish_upload": ((b"POST",), lambda r: _with_ticket(
                lambda ticket_id, secret: office.finish_upload(ticket_id, secret, _result(r)),
                r)),
            "upload_status": ((b"GET", b"POST"), lambda r: _with_ticket(office.status, r)),
        }
        for name, (methods, handler) in calls.items():
            self.putChild(name.encode(), _Call(methods, handler))


class _Call(Resource):
    isLeaf = True
    log = Logger()

    def __init__(self, methods: tuple[bytes, ...], handler: Callable[[Request], Deferred[Any]]):
        super().__init__()
        self._methods = methods
        self._handler = handler

    def render(self, request: Request) -> Any:
        if request.method not in self._methods:
            request.setHeader(b"Allow", b", ".join(self._methods))
            return error_body(request, 405, ErrorCode.BAD_REQUEST,
                              f"use {' or '.join(m.decode() for m in self._methods)}")
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        result = maybeDeferred(self._handler, request)
        result.addErrback(self._as_error_answer, request)
        result.addCallback(lambda answer: None if gone else _send(request, answer))
        return NOT_DONE_YET

    def _as_error_answer(self, failure: Failure, request: Request) -> bytes:
        if isinstance(failure.value, IncomingError):
            error = failure.value
            return error_body(request, error.code.http_status, error.code, error.message)
        self.log.failure("backend API call failed", failure)
        return error_body(request, 500, ErrorCode.STORAGE_FAILED, "internal server error")


def _new_upload(office: TicketOffice, policy: CallbackPolicy,
                request: Request) -> Deferred[bytes]:
    url = _param(request, "signalFinishURL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
        raise _bad(f"signalFinishURL must be an http or https URL of at most {MAX_URL} characters")
    try:
        policy.check_url(url)
    except CallbackRefused as e:
        raise _bad(f"signalFinishURL is not allowed: {e}") from None
    dest_type = _param(request, "destType", "file")
    if dest_type not in DEST_TYPES:
        raise _bad(f"destType {dest_type!r} is not supported (supported: {', '.join(DEST_TYPES)})")
    try:
        remove = parse_bool(_param(request, "removeFileWhenFinished", "true"))
    except ValueError:
        raise _bad("removeFileWhenFinished must be true or false") from None
    max_size_text = _param(request, "maxSize", "")
    if max_size_text and not (max_size_text.isdigit() and int(max_size_text) > 0):
        raise _bad("maxSize must be a positive whole number of bytes")
    made = office.new_upload(
        signal_finish_url=url, backend_secret=_secret(request),
        remove_file_when_finished=remove, dest_type=dest_type,
        max_size=int(max_size_text) if max_size_text else None,
    )
    return made.addCallback(lambda ticket: _answer(request, ticket.id, {"id": ticket.id}))


def _with_ticket(call: Callable[[str, str], Deferred[Any]], request: Request) -> Deferred[bytes]:
    """Calls that name a ticket answer ``ok``, or (``upload_status``) a JSON object."""
    done = call(_param(request, "id"), _secret(request))
    return done.addCallback(
        lambda value: _json(request, value) if value else _answer(request, "ok", {"result": "ok"}))


def _result(request: Request) -> str:
    """``finish_upload``'s optional ``result``: JSON text for the page, kept compact."""
    text = _param(request, "result", "")
    if not text:
        return ""
    if len(text) > MAX_RESULT:
        raise _bad(f"result is longer than {MAX_RESULT // 1024} KiB")
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        raise _bad("result must be JSON text") from None


def _secret(request: Request) -> str:
    header = request.getHeader(SECRET_HEADER)
    secret = header if header is not None else _param(request, "backendSecret", "")
    if len(secret) > MAX_SECRET:
        raise _bad(f"backendSecret is longer than {MAX_SECRET} characters")
    return secret


def _param(request: Request, name: str, default: str | None = None) -> str:
    values = (request.args or {}).get(name.encode())
    if not values:
        if default is None:
            raise _bad(f"missing parameter {name}")
        return default
    if len(values) > 1:
        raise _bad(f"parameter {name} given {len(values)} times")
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(f"parameter {name} is not UTF-8") from None


def _bad(message: str) -> IncomingError:
    return IncomingError(ErrorCode.BAD_REQUEST, message)


def _answer(request: Request, text: str, as_json: dict[str, Any]) -> bytes:
    """The body for a success: ``text``, or ``as_json`` when the caller wants JSON."""
    if wants_json(request):
        return _json(request, as_json)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return text.encode()


def _json(request: Request, value: dict[str, Any]) -> bytes:
    request.setHeader(b"Content-Type", b"application/json")
    return json.dumps(value).encode()


def _send(request: Request, body: bytes) -> None:
    request.setHeader(b"Cache-Control", b"no-store")
    request.write(body)
    request.finish()

"""A tus 1.0 face at ``/incoming/0.1/tus/``: unmodified tus clients upload on our tickets.

The face is thin. It parses tus requests and calls the office's transport-neutral
write API (:meth:`~incoming.office.TicketOffice.begin`, :meth:`Upload.write`,
:meth:`Upload.cancel`, :meth:`Upload.detach`), exactly as the WebSocket face
does; tickets, storage, the handover and the backend's callback are the same.

URLs. ``POST /incoming/0.1/tus/`` (creation) names the ticket in
``Upload-Metadata`` (``ticket``, base64 as tus encodes values) and answers
``201`` with ``Location: /incoming/0.1/tus/<ticket id>``: the upload URL is
the ticket, so a second POST for the same ticket (same length) answers the
same Location, and nothing new needs remembering across restarts.

Streaming (why a request factory). twisted.web reads a whole request body
into ``request.content`` before ``render`` runs, and tus clients send the
whole rest of a file in one PATCH. So on the public site every request is a
:class:`TusRequest`: for a PATCH (or a POST with a body) under the tus path,
its ``gotLength`` starts a :class:`TusBody` instead of a buffer, and each
chunk twisted.web hands to ``handleContentChunk`` goes to that body. The body
gathers chunks while a write is under way and hands them to ``Upload.write``
as one batch when it returns (like the WebSocket face). Two bounds keep memory
flat: the gathered bytes of one request (:data:`BATCH_BYTES`; past it the
connection is not read until the write returns), and the :class:`WriteBudget`
shared with every face (past it, reading pauses until storage catches up).
``render`` runs once the body is in; it answers when every byte is written.
A refusal known while the body is still arriving (wrong offset, unknown ticket,
taken over, storage failure) is answered at once and the connection closed
(the site lingers so that the answer arrives, see web.py): a client is not
made to send gigabytes that will be dropped. Resources render without the
request factory too (the body is then fed from ``request.content``).

Checksums. ``Upload-Checksum`` (sha1, sha256) covers one request's body, and
a mismatch must leave nothing behind. So a checksummed body is gathered in
memory (at most :data:`MAX_CHECKSUMMED_BODY`, announced as 413 before it is
read), compared, and only then written: ``460`` and nothing kept otherwise.

The end. The last PATCH is answered (204, ``Upload-Offset`` = length) once its
bytes are written, not once the file is stored and handed over: that is
asynchronous, may take long (a slow backend is retried for hours), and no tus
client waits for more. A client learns the rest from ``HEAD``, which carries
``Incoming-State`` (``stored``, ``handing_over``, ``waiting_for_backend``,
``finished``, …); the backend learns it from its callback and ``upload_status``.

Statuses: 400 malformed, 403 foreign origin, 404 unknown ticket (or no tus
upload made for it yet), 405, 409 wrong ``Upload-Offset`` or another length,
410 ticket closed (finished, cancelled, expired, failed), 412 another tus
version, 413 too large, 415 wrong content type, 423 a newer request took the
upload over, 429 per-address limits, 460 checksum mismatch, 5xx retryable.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import io
import json
import re
import urllib.parse
from typing import Any, Literal

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import RESPONSES
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from incoming.config import Config
from incoming.errors import ErrorCode, IncomingError
from incoming.ingest import BATCH_BYTES, SmallWrites, WriteBudget, passing
from incoming.limits import ConnectionLimits, RefusalLog, client_address, printable
from incoming.office import DAMAGED, MAX_FILENAME, Hello, TicketOffice, Upload
from incoming.tickets import State, Ticket

PREFIX = b"/incoming/0.1/tus/"
TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
OFFSET_TYPE = "application/offset+octet-stream"
MAX_CHECKSUMMED_BODY = 16 << 20
"""Largest body with ``Upload-Checksum``: it is held in memory until its digest is checked."""
MAX_TICKET_ID = 256
CHECKSUM_MISMATCH = 460
CANCEL_REASON = "terminated by the tus client"
EXPOSED = ("Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, Upload-Defer-Length, "
           "Upload-Concat, Location, Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, "
           "Tus-Checksum-Algorithm, Incoming-State, Incoming-Error, Incoming-Result, "
           "Incoming-Sha256")
ALLOWED_HEADERS = ("Authorization, Origin, X-Requested-With, X-Request-ID, "
                   "X-HTTP-Method-Override, Content-Type, Upload-Length, Upload-Offset, "
                   "Tus-Resumable, Upload-Metadata, Upload-Defer-Length, Upload-Concat, "
                   "Upload-Checksum, Incoming-Digest, Incoming-Integrity, Incoming-Reason")
METHODS = "POST, HEAD, PATCH, DELETE, OPTIONS"
_REASONS = {CHECKSUM_MISMATCH: b"Checksum Mismatch", 423: b"Locked", 429: b"Too Many Requests"}
_GONE_STATES = frozenset({State.CANCELLED, State.EXPIRED})
_DIGEST = re.compile(r"sha256=([0-9a-f]{64})")

log = Logger()


def is_tus_path(path: bytes) -> bool:
    """Whether a request path belongs to this face (its bodies are upload bytes)."""
    return path.partition(b"?")[0].startswith(PREFIX)


def _ticket_of(path: bytes) -> str | None:
    """The ticket ID of an upload URL; None for the collection itself."""
    rest = path.partition(b"?")[0][len(PREFIX):].strip(b"/")
    return rest.decode("latin-1") if rest else None


class TusError(Exception):
    """A refusal: a status and one line for the client."""

    def __init__(self, status: int, message: str, state: str | None = None,
                 code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.state = state
        self.code = code
        """The error code of docs/protocol.rst, sent as ``Incoming-Error`` (extension)."""

    def headers(self) -> list[tuple[str, str]]:
        headers = [] if self.state is None else [("Incoming-State", self.state)]
        if self.code is not None:
            headers.append(("Incoming-Error", str(self.code)))
        if self.status == 412:
            headers.append(("Tus-Version", TUS_VERSION))
        return headers


def from_incoming(error: IncomingError) -> TusError:
    """The tus status of an office refusal (the codes of docs/protocol.rst)."""
    status = {ErrorCode.TICKET_CLOSED: 410, ErrorCode.TAKEN_OVER: 423,
              ErrorCode.BEYOND_SIZE: 413}.get(error.code, error.code.http_status)
    return TusError(status, error.message, error.state, int(error.code))


def _as_tus_error(failure: Failure) -> TusError:
    if isinstance(failure.value, TusError):
        return failure.value
    if isinstance(failure.value, IncomingError):
        return from_incoming(failure.value)
    log.failure("tus request failed", failure)
    return TusError(500, "internal server error")


def _integer(request: Request, name: str) -> int | None:
    """A non-negative integer header, None if absent; 400 if malformed."""
    text = request.getHeader(name)
    if text is None:
        return None
    text = text.strip()
    if not text.isdigit() or len(text) > 20:
        raise TusError(400, f"{name} must be a non-negative integer")
    return int(text)


def parse_metadata(text: str) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (the value optional)."""
    values: dict[str, str] = {}
    for pair in text.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        try:
            values[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise TusError(400, f"Upload-Metadata value of {printable(key, 40)!r} is not "
                                "base64 of UTF-8 text") from None
    return values


def _client_digest(request: Request) -> str:
    """``Incoming-Digest: sha256=<64 hex>`` (extension): the client's SHA-256 of the whole
    file, as ``digest`` on the WebSocket; "" when absent."""
    header = request.getHeader("incoming-digest")
    if header is None:
        return ""
    found = _DIGEST.fullmatch(header.strip())
    if found is None:
        raise TusError(400, "Incoming-Digest must be sha256=<64 lower-case hex digits>",
                       code=int(ErrorCode.BAD_REQUEST))
    return found.group(1)


def _hello(request: Request, size: int, filename: str) -> Hello:
    """The office's hello, with the extensions ``Incoming-Digest`` and ``Incoming-Integrity``."""
    integrity = (request.getHeader("incoming-integrity") or "").strip().lower() == "sha256"
    return Hello(size=size, filename=filename, sha256=_client_digest(request),
                 integrity=integrity)


def _checksum(request: Request) -> tuple[Any, bytes] | None:
    """``Upload-Checksum: sha1 <base64 digest>``: a fresh hash object and the digest."""
    header = request.getHeader("upload-checksum")
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() not in CHECKSUMS:
        raise TusError(400, f"checksum algorithm {printable(algorithm, 20)!r} is not supported "
                            f"(supported: {', '.join(CHECKSUMS)})")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise TusError(400, "Upload-Checksum digest is not base64") from None
    return CHECKSUMS[algorithm.lower()](), digest


class TusFace:
    """What every tus request shares: the office, the limits, the budget, the CORS rules."""

    def __init__(self, office: TicketOffice, config: Config, clock: Any,
                 limits: ConnectionLimits, budget: WriteBudget) -> None:
        self.office = office
        self.config = config
        self.clock = clock
        self.limits = limits
        self.budget = budget
        self.refusal_log = RefusalLog(clock)

    def resource(self) -> Resource:
        return TusCollection(self)

    def request_factory(self, channel: Any, queued: Any = None) -> Request:
        """The site's ``requestFactory``: requests whose tus bodies stream (module docstring)."""
        return TusRequest(self, channel)

    # -- headers on every answer -------------------------------------------------------------

    def origin_allowed(self, request: Request) -> bool:
        """Like the WebSocket face: a listed origin, any when none is listed, and requests
        without ``Origin`` (programs, not pages)."""
        origin = (request.getHeader("origin") or "").strip().lower()
        return not origin or not self.config.allowed_origin or origin in self.config.allowed_origin

    def common_headers(self, request: Request) -> list[tuple[str, str]]:
        """``Tus-Resumable`` and, for an allowed page, CORS as tusd answers it by default."""
        headers = [("Tus-Resumable", TUS_VERSION), ("Cache-Control", "no-store")]
        origin = (request.getHeader("origin") or "").strip()
        if origin and self.origin_allowed(request):
            headers += [("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),
                        ("Access-Control-Expose-Headers", EXPOSED)]
        return headers

    def check_request(self, request: Request) -> None:
        """What every tus request but OPTIONS must satisfy."""
        if not self.origin_allowed(request):
            raise TusError(403, "origin not allowed")
        version = request.getHeader("tus-resumable")
        if version is None or version.strip() != TUS_VERSION:
            raise TusError(412, f"Tus-Resumable must be {TUS_VERSION}")

    def expires(self, ticket_updated_at: float) -> str:
        """``Upload-Expires``: the janitor expires a ticket idle for ``ticket_lifetime``."""
        return email.utils.formatdate(ticket_updated_at + self.config.ticket_lifetime,
                                      usegmt=True)

    def limit(self, ticket: Ticket | None) -> int:
        limit = self.config.max_upload_size
        if ticket is not None and ticket.max_size:
            limit = min(limit, ticket.max_size)
        return limit

    def address(self, request: Request) -> str:
        peer = getattr(request.getClientAddress(), "host", "")
        return client_address(peer, request.getHeader("x-forwarded-for"),
                              self.config.trusted_proxy)

    # -- reading tickets without taking them over ---------------------------------------------

    def peek(self, ticket_id: str) -> Deferred[tuple[Ticket, dict[str, Any]]]:
        """The ticket and its live status (offset included), changing nothing."""
        def unknown(failure: Failure) -> Any:
            error = failure.value
            if isinstance(error, IncomingError) and error.code is ErrorCode.UNKNOWN_TICKET:
                raise TusError(404, "no such ticket", code=int(ErrorCode.UNKNOWN_TICKET))
            return failure
        return self.office.peek(ticket_id).addErrback(unknown)


def _method(request: Request) -> bytes:
    """The method, with ``X-HTTP-Method-Override`` on a POST (tus-js-client's option for
    environments that cannot send PATCH or DELETE)."""
    override = request.getHeader("x-http-method-override")
    if request.method == b"POST" and override:
        return override.strip().upper().encode("latin-1", "replace")
    return request.method


class _Answering(Resource):
    """Shared rendering: OPTIONS, refusals as one line, the common headers."""

    isLeaf = True

    def __init__(self, face: TusFace) -> None:
        super().__init__()
        self.face = face

    def render(self, request: Request) -> Any:
        method = _method(request)
        if method == b"OPTIONS":
            return self.options(request)
        handler = getattr(self, "tus_" + method.decode("latin-1", "replace"), None)
        if handler is None:
            return self.refuse(request, TusError(405, "method not allowed"),
                               [("Allow", METHODS)])
        try:
            self.face.check_request(request)
        except TusError as error:
            body: TusBody | None = getattr(request, "tus_body", None)
            if body is not None:
                body.abandon()
            return self.refuse(request, error)
        return handler(request)

    def options(self, request: Request) -> bytes:
        """Capabilities, and the CORS preflight (browsers send no Tus-Resumable with it)."""
        headers = self.face.common_headers(request)
        headers += [("Tus-Version", TUS_VERSION), ("Tus-Extension", EXTENSIONS),
                    ("Tus-Max-Size", str(self.face.config.max_upload_size)),
                    ("Tus-Checksum-Algorithm", ",".join(CHECKSUMS))]
        if not self.face.origin_allowed(request):
            return self.refuse(request, TusError(403, "origin not allowed"))
        if request.getHeader("origin") and request.getHeader("access-control-request-method"):
            headers += [("Access-Control-Allow-Methods", METHODS),
                        ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
                        ("Access-Control-Max-Age", "86400")]
        return _respond(request, 204, headers)

    def refuse(self, request: Request, error: TusError,
               extra: list[tuple[str, str]] | None = None) -> bytes:
        headers = self.face.common_headers(request) + (extra or []) + error.headers()
        return _respond(request, error.status, headers, error.message)

    def _streamed(self, request: Request, kind: Literal["patch", "create"],
                  ticket_id: str | None) -> Any:
        """Finish a request whose body went (or now goes) to a :class:`TusBody`."""
        body: TusBody | None = getattr(request, "tus_body", None)
        if body is None:  # a site without our request factory: the body was buffered
            body = TusBody(self.face, request, kind, ticket_id, None)
            body.start()
            if request.content is not None:
                request.content.seek(0)
                body.receive(request.content.read())
        body.body_complete(self)
        return NOT_DONE_YET


class TusCollection(_Answering):
    """``/incoming/0.1/tus/``: creation; below it, each ticket's upload URL."""

    isLeaf = False

    def getChild(self, path: bytes, request: Request) -> Resource:
        if not path:
            return self
        return TusUpload(self.face, path.decode("latin-1"))

    def tus_POST(self, request: Request) -> Any:
        return self._streamed(request, "create", None)


class TusUpload(_Answering):
    """``/incoming/0.1/tus/<ticket id>``: HEAD, PATCH, DELETE."""

    def __init__(self, face: TusFace, ticket_id: str) -> None:
        super().__init__(face)
        self.ticket_id = ticket_id

    def tus_PATCH(self, request: Request) -> Any:
        return self._streamed(request, "patch", self.ticket_id)

    def tus_HEAD(self, request: Request) -> Any:
        peeked: Deferred[Any] = self.face.peek(self.ticket_id)
        peeked.addCallback(self._head_answer, request)
        peeked.addErrback(lambda f: self.refuse(request, _as_tus_error(f)))
        peeked.addCallback(_finish, request)
        return NOT_DONE_YET

    def _head_answer(self, found: tuple[Ticket, dict[str, Any]], request: Request) -> bytes:
        ticket, status = found
        state = State(status["state"])
        if ticket.size is None:
            raise TusError(404, "no tus upload was created for this ticket", state.value)
        if state in _GONE_STATES:
            why = f" ({ticket.cancel_reason})" if ticket.cancel_reason else ""
            damaged = ticket.cancel_reason == DAMAGED
            raise TusError(410, f"the upload was {state.value}{why}", state.value,
                           int(ErrorCode.DIGEST_MISMATCH if damaged else ErrorCode.TICKET_CLOSED))
        offset = status["bytesReceived"] if state.accepts_bytes else ticket.size
        headers = self.face.common_headers(request) + [
            ("Upload-Offset", str(offset)), ("Upload-Length", str(ticket.size)),
            ("Incoming-State", state.value)]
        if state.accepts_bytes:
            headers.append(("Upload-Expires", self.face.expires(status["updatedAt"])))
        if state is State.FINISHED:
            if ticket.sha256:
                headers.append(("Incoming-Sha256", ticket.sha256))
            if ticket.result:
                result = json.dumps(json.loads(ticket.result), ensure_ascii=True,
                                    separators=(",", ":"))
                headers.append(("Incoming-Result", result))
        if ticket.filename_from_browser:
            encoded = base64.b64encode(ticket.filename_from_browser.encode()).decode()
            headers.append(("Upload-Metadata", f"filename {encoded}"))
        return _respond(request, 200, headers)

    def tus_DELETE(self, request: Request) -> Any:
        reason = urllib.parse.unquote(request.getHeader("incoming-reason") or "")[:1024]
        ending: Deferred[Any] = _Termination(self.face, self.ticket_id, reason).run()
        ending.addCallback(lambda _: _respond(request, 204, self.face.common_headers(request)))
        ending.addErrback(lambda f: self.refuse(request, _as_tus_error(f)))
        ending.addCallback(_finish, request)
        return NOT_DONE_YET


class _Termination:
    """DELETE: the frontend cancels (the backend hears ``cancelled=yes``, as for our own
    library's cancel). Once every byte is in it is too late (409): the upload goes on."""

    def __init__(self, face: TusFace, ticket_id: str, reason: str = "") -> None:
        self.face = face
        self.ticket_id = ticket_id
        self.reason = reason or CANCEL_REASON
        """``Incoming-Reason`` (extension, percent-encoded UTF-8), else the tus default."""

    def run(self) -> Deferred[None]:
        peeked = self.face.peek(self.ticket_id)
        return peeked.addCallback(self._begin)

    def _begin(self, found: tuple[Ticket, dict[str, Any]]) -> Any:
        ticket, _ = found
        if ticket.size is None:
            raise TusError(404, "no tus upload was created for this ticket")
        hello = Hello(size=ticket.size, filename=ticket.filename_from_browser)
        return self.face.office.begin(self.ticket_id, hello, self).addCallback(self._cancel)

    def _cancel(self, upload: Upload) -> Any:
        if not upload.receiving:
            upload.detach()
            raise TusError(409, "every byte has arrived: the file is being handed over",
                           upload.ticket.state.value)
        return upload.cancel(self.reason)

    # UploadListener: a termination listens to nothing.
    def state_changed(self, ticket: Ticket) -> None:
        pass

    def cancelled(self, by: str, reason: str) -> None:
        pass

    def failed(self, error: IncomingError) -> None:
        pass


def _respond(request: Request, status: int, headers: list[tuple[str, str]],
             message: str = "") -> bytes:
    request.setResponseCode(status, _REASONS.get(status))
    for name, value in headers:
        request.setHeader(name, value)
    body = f"{message}\n".encode() if message else b""
    if body:
        request.setHeader("Content-Type", "text/plain; charset=utf-8")
    if status != 204:  # an answer finished later would otherwise be sent chunked
        request.setHeader("Content-Length", str(len(body)))
    return body


def _finish(body: bytes, request: Request) -> None:
    if getattr(request, "_disconnected", False):
        return  # the client left; nobody to answer
    if body:
        request.write(body)
    request.finish()


# -- bodies that stream ------------------------------------------------------------------------


class TusRequest(Request):
    """A request of the public site; under the tus path, PATCH and POST bodies stream to a
    :class:`TusBody` instead of a buffer (module docstring)."""

    def __init__(self, face: TusFace, channel: Any) -> None:
        super().__init__(channel)
        self.tus_face = face
        self.tus_body: TusBody | None = None
        self.tus_discard = False
        """A body on a tus path that carries no upload bytes: read and dropped, never
        buffered (the tus path has no body cap)."""

    def gotLength(self, length: int | None) -> None:
        # twisted.web keeps the request line on the channel until the body is in (web.py's
        # GuardedChannel reads it too): there is no public hook between headers and body.
        command = getattr(self.channel, "_command", b"")
        path = getattr(self.channel, "_path", b"")
        if not is_tus_path(path):
            super().gotLength(length)
            return
        self.content = io.BytesIO()  # stays empty: the bytes go to the body, or nowhere
        kind = self._kind(command, path)
        if kind is None:
            self.tus_discard = True
            return
        self.tus_body = TusBody(self.tus_face, self, kind, _ticket_of(path), length)
        self.tus_body.start()

    def _kind(self, command: bytes, path: bytes) -> Literal["patch", "create"] | None:
        if command not in (b"PATCH", b"POST"):
            return None
        ticket_id = _ticket_of(path)
        override = (self.requestHeaders.getRawHeaders(b"x-http-method-override") or [b""])[0]
        if command == b"POST" and override.strip().upper() not in (b"", b"POST"):
            command = override.strip().upper()
        if command == b"PATCH" and ticket_id:
            return "patch"
        if command == b"POST" and not ticket_id:
            return "create"
        return None

    def handleContentChunk(self, data: bytes) -> None:
        if self.tus_body is not None:
            self.tus_body.receive(data)
        elif not self.tus_discard:
            super().handleContentChunk(data)

    def connectionLost(self, reason: Failure) -> None:
        if self.tus_body is not None:
            self.tus_body.connection_lost()
        super().connectionLost(reason)


class TusBody:
    """One PATCH (or creation POST) whose bytes go to the ticket's :class:`Upload`.

    From the headers (:meth:`start`) it checks the request and begins the
    upload; bytes (:meth:`receive`) gather while that or a write is under way,
    and go to storage in batches; once the whole body is in
    (:meth:`body_complete`) and written, the request is answered. It is the
    office's :class:`~incoming.office.UploadListener` for as long as it writes.
    """

    def __init__(self, face: TusFace, request: Request, kind: Literal["patch", "create"],
                 ticket_id: str | None, length: int | None) -> None:
        self.face = face
        self.request = request
        self.kind = kind
        self.ticket_id = ticket_id
        self.length = length
        self.transport: Any = request.channel.transport if request.channel else None
        """The connection's transport: paused while over a bound, the WriteBudget's key."""
        self.upload: Upload | None = None
        self.error: TusError | None = None
        self.start_offset = 0
        self.received = 0
        """Offset just past the last byte received (gathered or handed to storage)."""
        self.flushed = 0
        self.acked = 0
        self.writing = False
        self.pending: list[bytes] = []
        self.small_writes = SmallWrites(face.budget, self._waited)
        self.checksum: tuple[Any, bytes] | None = None
        self.verified = False
        """The checksummed body is whole and its digest matches: it may be written."""
        self.discarding = False
        """A creation's body that does not fit (the ticket has bytes already): dropped."""
        self.filename = ""
        self.declared_length = 0
        self.resource: _Answering | None = None
        """Set once the body is in and ``render`` ran: who answers."""
        self.answered = False
        self.gone = False
        self.paused = False
        self.address: str | None = None

    # -- from the headers ---------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._check_headers()
        except TusError as error:
            self._fail(error)
            return
        begun = self._begin()
        begun.addCallbacks(self._begun, lambda f: self._fail(_as_tus_error(f)))

    def _check_headers(self) -> None:
        request, face = self.request, self.face
        face.check_request(request)
        content_type = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
        has_body = self.length is None or self.length > 0
        if (self.kind == "patch" or has_body) and content_type != OFFSET_TYPE:
            raise TusError(415, f"Content-Type must be {OFFSET_TYPE}")
        self.checksum = _checksum(request)
        _client_digest(request)  # a malformed one is refused before any byte is read
        if self.checksum is not None and (self.length or 0) > MAX_CHECKSUMMED_BODY:
            raise TusError(413, f"a body with Upload-Checksum may have at most "
                                f"{MAX_CHECKSUMMED_BODY} bytes")
        if self.kind == "patch":
            offset = _integer(request, "upload-offset")
            if offset is None:
                raise TusError(400, "Upload-Offset is required")
            self.start_offset = offset
        else:
            self._check_creation()
        self.received = self.flushed = self.acked = self.start_offset
        address = face.address(request)
        refusal = face.limits.admit(address)
        if refusal is not None:
            face.refusal_log.refused("refused a tus request from {address}: {status} {reason}",
                                     address=address, status=refusal.status,
                                     reason=refusal.reason)
            raise TusError(refusal.status, refusal.reason)
        self.address = address

    def _check_creation(self) -> None:
        request = self.request
        if request.getHeader("upload-defer-length") is not None:
            raise TusError(400, "Upload-Defer-Length is not supported: give Upload-Length")
        if request.getHeader("upload-concat") is not None:
            raise TusError(400, "concatenation is not supported")
        length = _integer(request, "upload-length")
        if length is None:
            raise TusError(400, "Upload-Length is required")
        metadata = parse_metadata(request.getHeader("upload-metadata") or "")
        ticket_id = metadata.get("ticket", "")
        if not ticket_id:
            raise TusError(400, "Upload-Metadata must name the ticket (key 'ticket')")
        if len(ticket_id) > MAX_TICKET_ID or "/" in ticket_id:
            raise TusError(404, "no such ticket")
        self.ticket_id = ticket_id
        self.filename = (metadata.get("filename") or metadata.get("name") or "")[:MAX_FILENAME]
        self.declared_length = length
        if length > self.face.config.max_upload_size:
            raise TusError(413, f"the file has {length} bytes, the limit is "
                                f"{self.face.config.max_upload_size}")

    def _begin(self) -> Deferred[Upload]:
        assert self.ticket_id is not None
        office = self.face.office
        if self.kind == "create":
            return office.begin(self.ticket_id,
                                _hello(self.request, self.declared_length, self.filename), self)
        ticket_id = self.ticket_id

        def hello(found: tuple[Ticket, dict[str, Any]]) -> Deferred[Upload]:
            ticket, status = found
            if ticket.size is None:
                raise TusError(404, "no tus upload was created for this ticket")
            if State(status["state"]) in _GONE_STATES:
                raise TusError(410, f"the upload was {status['state']}", status["state"])
            if self.length is not None and self.start_offset + self.length > ticket.size:
                raise TusError(413, f"bytes up to {self.start_offset + self.length} go past "
                                    f"Upload-Length {ticket.size}")
            return office.begin(ticket_id, _hello(self.request, ticket.size,
                                                  ticket.filename_from_browser), self)
        return self.face.peek(ticket_id).addCallback(hello)

    def _begun(self, upload: Upload) -> None:
        if self.error is not None or self.gone:
            upload.detach()
            return
        self.upload = upload
        if self.kind == "create" and upload.offset != 0:
            # The ticket has bytes already (an earlier attempt): a creation's body starts at
            # 0 and does not fit. It is dropped; Upload-Offset tells the client where to go on.
            self.discarding = True
            self._drop_pending()
            self.start_offset = self.received = self.flushed = self.acked = upload.offset
        elif upload.offset != self.start_offset:
            self._fail(TusError(409, f"Upload-Offset is {self.start_offset}, the upload is at "
                                     f"{upload.offset}", upload.ticket.state.value))
            return
        if self.checksum is None:
            self.face.budget.join(self.transport, self._flush)
        self._flush()
        self._maybe_answer()

    # -- bytes ----------------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        if self.error is not None or self.discarding or not data:
            return
        size = self.upload.ticket.size if self.upload is not None else None
        if size is not None and self.received + len(data) > size:
            self._fail(TusError(413, f"bytes go past Upload-Length {size}"))
            return
        self.pending.append(data)
        self.received += len(data)
        if self.checksum is not None:
            if self.received - self.start_offset > MAX_CHECKSUMMED_BODY:
                self._fail(TusError(413, f"a body with Upload-Checksum may have at most "
                                         f"{MAX_CHECKSUMMED_BODY} bytes"))
                return
            self.checksum[0].update(data)
            return  # written only once its digest is checked
        self.face.budget.take(len(data), self.transport)
        if not self.writing:
            self._flush_or_wait()
        elif self.received - self.flushed >= BATCH_BYTES:
            self._pause()

    def _flush_or_wait(self) -> None:
        """Small writes wait a little for more (the ingest core's rule, as on the WebSocket)."""
        size = self.upload.ticket.size if self.upload is not None else None
        if self.small_writes.go_now(self.received - self.flushed, self.received == size):
            self._flush()

    def _waited(self) -> None:
        if not self.writing:
            self._flush()

    def _flush(self) -> None:
        """Hand what gathered to storage (one write at a time)."""
        if (self.upload is None or self.writing or not self.pending or self.error is not None
                or self.checksum is not None and not self.verified):
            return
        self.small_writes.reset()
        pieces, offset, size = self.pending, self.flushed, self.received - self.flushed
        self.pending, self.flushed = [], self.received
        counted = self.checksum is None
        if counted:
            self.face.budget.handed_over(size)
        self.writing = True
        self._resume()
        try:
            written = self.upload.write(offset, pieces)
        except Exception:  # noqa: BLE001 — refused (IncomingError) or a bug: not written
            self.writing = False
            if counted:
                self.face.budget.give_back(size)
            self._fail(_as_tus_error(Failure()))
            return
        if counted:
            written.addBoth(passing(self.face.budget.give_back, size))
        written.addCallbacks(self._written, lambda f: self._fail(_as_tus_error(f)))

    def _written(self, offset: int) -> None:
        self.writing = False
        self.acked = max(self.acked, offset)
        if self.error is None:
            if self.resource is None:
                self._flush_or_wait()
            else:
                self._flush()  # the body is in: nothing more is coming to wait for
            self._maybe_answer()

    def _pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pauseProducing()

    def _resume(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            if not self.face.budget.holds(self.transport):
                self.transport.resumeProducing()

    def _drop_pending(self) -> None:
        self.small_writes.reset()
        dropped = self.received - self.flushed
        self.pending, self.received = [], self.flushed
        if self.checksum is None:
            self.face.budget.handed_over(dropped)
            self.face.budget.give_back(dropped)

    # -- the end --------------------------------------------------------------------------------

    def body_complete(self, resource: _Answering) -> None:
        """``render`` ran: the whole body is in. Answer once it is written."""
        self.resource = resource
        if self.checksum is not None and self.error is None and not self.discarding:
            hasher, expected = self.checksum
            if hasher.digest() != expected:
                self._fail(TusError(CHECKSUM_MISMATCH, "Upload-Checksum does not match the "
                                                       "body: nothing of it was kept"))
                return
            self.verified = True
        self._flush()  # the last bytes of the body never wait
        self._maybe_answer()

    def _maybe_answer(self) -> None:
        if self.answered or self.resource is None:
            return
        if self.error is not None:
            self._answer_error(self.error)
            return
        if self.upload is None or self.writing or self.pending:
            return  # still beginning or writing: answered when that returns
        self.answered = True
        upload, request = self.upload, self.request
        ticket = upload.ticket
        headers = self.face.common_headers(request) + [
            ("Upload-Offset", str(self.acked)), ("Incoming-State", ticket.state.value)]
        if ticket.state.accepts_bytes and self.acked < (ticket.size or 0):
            headers.append(("Upload-Expires", self.face.expires(self.face.clock.seconds())))
        if self.kind == "create":
            headers.append(("Location", (PREFIX.decode() + str(self.ticket_id))))
            status = 201
        else:
            status = 204
        self._let_go()
        _finish(_respond(request, status, headers), request)

    def _fail(self, error: TusError) -> None:
        """Stop taking bytes; answer now if ``render`` ran, else at once with a cut (the
        body is still coming, and would be dropped)."""
        if self.error is not None or self.answered:
            return
        self.error = error
        self._drop_pending()
        self._resume()
        if self.resource is not None:
            self._maybe_answer()
            return
        cut = getattr(self.request.channel, "cut", None)
        if cut is None or self.gone or self.length == 0:
            return  # answered by render, once the (ignored) body is in
        self.answered = True
        self._let_go()
        reason = _REASONS.get(error.status) or RESPONSES.get(error.status, b"Error")
        headers = self.face.common_headers(self.request) + error.headers()
        cut(f"{error.status} {reason.decode('latin-1')}", error.message, headers)

    def _answer_error(self, error: TusError) -> None:
        self.answered = True
        self._let_go()
        assert self.resource is not None
        _finish(self.resource.refuse(self.request, error), self.request)

    def abandon(self) -> None:
        """The request was refused before its bytes mattered (render's own checks)."""
        self.error = self.error or TusError(400, "refused")
        self.answered = True
        self._drop_pending()
        self._let_go()

    def connection_lost(self) -> None:
        self.gone = True
        if self.transport is not None:
            self.face.budget.forget(self.transport)
        self.error = self.error or TusError(499, "the client went away")
        self._drop_pending()
        self._let_go()

    def _let_go(self) -> None:
        """The request is over: the upload is free for the next one, the address counted no
        more. Bytes being written are still written (and count at the next HEAD)."""
        if self.upload is not None:
            self.upload.detach()
            self.upload = None
        if self.address is not None:
            self.face.limits.release(self.address)
            self.address = None

    # -- what the office tells us (UploadListener) -----------------------------------------------

    def state_changed(self, ticket: Ticket) -> None:
        pass  # a tus client hears states only from HEAD (Incoming-State)

    def cancelled(self, by: str, reason: str) -> None:
        self.upload = None
        self._fail(TusError(410, f"the upload was cancelled by the {by}: {reason}", "cancelled"))

    def failed(self, error: IncomingError) -> None:
        self.upload = None
        self._fail(from_incoming(error))


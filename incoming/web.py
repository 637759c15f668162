"""The HTTP layer every face shares: the site, its limits, its access log, its error pages.

twisted.web alone buffers whole request bodies of any size and only times out
connections that are idle for its whole timeout, so a client that trickles
one header byte a second holds a connection for ever. :class:`IncomingSite`
adds what a server facing the internet needs (docs/security.rst):

- a deadline for each request: from its first byte until its headers (and,
  except on streaming upload paths, its body) are in, ``request_timeout``;
- a cap on buffered request bodies (:data:`MAX_BODY`, 64 KiB);
- an access log with no secrets and only short ticket IDs;
- answers in the API's error format (:func:`error_body`) where Twisted would
  send its HTML pages.

:class:`KeyGuard` puts a resource behind the backend API keys.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

from twisted.internet.interfaces import IDelayedCall, ITCPTransport, ITransport
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from incoming.errors import ErrorCode, IncomingError
from incoming.lifecycle import short_id

MAX_BODY = 64 * 1024
"""Largest request body the server buffers (backend API calls are a few hundred bytes)."""
LINGER = 2.0
"""Seconds a cut connection is still read (and ignored) so that its answer arrives whole."""
SECRET_PARAMETERS = frozenset({b"backendsecret"})
TICKET_PATHS = ("/incoming/0.1/tus/",)
"""Paths whose following segments are ticket IDs (tus upload URLs): logged cut short."""
TICKET_PARAMETERS = frozenset({b"id", b"ticket"})

log = Logger()


# -- error answers ------------------------------------------------------------------------------


def wants_json(request: Request) -> bool:
    return "application/json" in (request.getHeader("accept") or "").lower()


def error_body(request: Request, status: int, code: ErrorCode, message: str) -> bytes:
    """Set ``status`` and return the documented error body: JSON when asked, else one line."""
    request.setResponseCode(status)
    request.setHeader(b"Cache-Control", b"no-store")
    if wants_json(request):
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps({"error": IncomingError(code, message).as_json()}).encode()
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return f"{message}\n".encode()


class ErrorPage(Resource):
    """Answers every request below it with one error (a leaf: nothing lies beyond)."""

    isLeaf = True

    def __init__(self, code: ErrorCode, message: str,
                 headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        super().__init__()
        self._code = code
        self._message = message
        self._headers = headers

    def render(self, request: Request) -> bytes:
        for name, value in self._headers:
            request.setHeader(name, value)
        return error_body(request, self._code.http_status, self._code, self._message)


class Folder(Resource):
    """A folder of the API: an unknown name below it is a 404 in the API's error format."""

    def getChild(self, path: bytes, request: Request) -> Resource:
        return ErrorPage(ErrorCode.NOT_FOUND, "no such path")

    def render(self, request: Request) -> bytes:
        return error_body(request, 404, ErrorCode.NOT_FOUND, "no such path")


# -- API keys -----------------------------------------------------------------------------------


def key_matches(offered: str, keys: Sequence[str]) -> bool:
    """Whether ``offered`` is one of ``keys``, in time that depends on neither.

    Comparing digests makes every comparison the same length; every key is
    compared, so the position of a match does not show either.
    """
    offered_digest = hashlib.sha256(offered.encode()).digest()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(offered_digest, hashlib.sha256(key.encode()).digest())
    return matched


def bearer_token(request: Request) -> str:
    """The key of an ``Authorization: Bearer KEY`` header, or empty."""
    header = (request.getHeader("authorization") or "").strip()
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class KeyGuard(Resource):
    """Lets a request through to ``wrapped`` only with one of ``keys`` (none set: everyone)."""

    def __init__(self, wrapped: Resource, keys: Sequence[str]) -> None:
        super().__init__()
        self._wrapped = wrapped
        self._keys = tuple(keys)
        self.isLeaf = wrapped.isLeaf

    def _refusal(self, request: Request) -> Resource | None:
        if not self._keys:
            return None
        token = bearer_token(request)
        if token and key_matches(token, self._keys):
            return None
        why = "a valid API key is needed" if token else "an API key is needed"
        log.info("refused {method} {path}: {why}", method=request.method.decode("latin-1"),
                 path=request.path.decode("latin-1"), why=why, event="refused_api_key")
        return ErrorPage(ErrorCode.UNAUTHORIZED,
                         f"{why}: send 'Authorization: Bearer KEY'",
                         headers=[(b"WWW-Authenticate", b'Bearer realm="incoming"')])

    def getChildWithDefault(self, path: bytes, request: Request) -> Resource:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return self._wrapped.getChildWithDefault(path, request)

    def render(self, request: Request) -> Any:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal.render(request)
        return self._wrapped.render(request)


# -- the access log -----------------------------------------------------------------------------


def redacted_uri(uri: bytes) -> str:
    """The request URI as the log shows it: secrets replaced, ticket IDs cut short."""
    text = uri.decode("latin-1")
    # Split where twisted.web splits (the first "?"), not as a URL: urlsplit reads "#" as a
    # fragment and "//[" as a host, where twisted.web reads a path and a query.
    path, question, query = text.partition("?")
    path = _redacted_path(path)
    if not question:
        return path
    shown = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        key = name.lower().encode("latin-1", "replace")
        if key in SECRET_PARAMETERS:
            value = "[redacted]"
        elif key in TICKET_PARAMETERS:
            value = short_id(value)
        shown.append((name, value))
    return f"{path}?{urlencode(shown, safe='[]')}"


def _redacted_path(path: str) -> str:
    """Under a ticket path (``/incoming/0.1/tus/<ticket id>``), every segment after the
    prefix keeps its first 8 characters: an upload URL is the right to upload."""
    for prefix in TICKET_PATHS:
        if path.startswith(prefix):
            rest = path[len(prefix):]
            return prefix + "/".join(short_id(segment) for segment in rest.split("/"))
    return path


def access_log_line(timestamp: str, request: Request) -> str:
    """One line in the combined log format, without secrets (Twisted's shows the whole URI)."""
    def quoted(value: bytes | str | None) -> str:
        text = value.decode("latin-1") if isinstance(value, bytes) else (value or "-")
        return text.replace("\\", "\\\\").replace('"', '\\"')

    peer = request.getClientAddress()
    address = getattr(peer, "host", "-")
    line = f"{request.method.decode('latin-1')} {redacted_uri(request.uri)} " \
           f"{request.clientproto.decode('latin-1')}"
    return (f'"{address}" - - {timestamp} "{quoted(line)}" {request.code} '
            f'{request.sentLength or "-"} "{quoted(_referer(request))}" '
            f'"{quoted(request.getHeader("user-agent"))}"')


def _referer(request: Request) -> str | None:
    """The Referer, with its query redacted like ours: a page's URL may hold a ticket ID."""
    referer = request.getHeader("referer")
    if not referer:
        return None
    page, _, query = referer.partition("?")
    return page + (redacted_uri(b"/?" + query.encode("latin-1", "replace"))[1:] if query else "")


# -- deadlines and body limits ------------------------------------------------------------------


def _raw_error(status: str, message: str, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    body = f"{message}\n".encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n{extra}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class GuardedChannel(HTTPChannel):
    """An HTTP/1.1 connection with a deadline per request and a cap on buffered bodies.

    It reads two attributes of twisted.web's parser, ``_handlingRequest`` (a
    request is being answered; bytes now belong to the next one) and ``_path``
    (the request's path, known once its first line is in): twisted.web offers
    no public hook between a request's headers and its body.
    """

    site: IncomingSite
    transport: ITransport  # set by makeConnection, before any of these methods runs
    _deadline: IDelayedCall | None = None
    _body_seen = 0
    _cut = False
    _streaming = False
    """The current request's body carries upload bytes: no deadline, no cap."""

    def dataReceived(self, data: bytes) -> None:
        if self._cut:
            return  # lingering after a refusal: read and dropped
        if self._deadline is None and not self._handlingRequest and not self._streaming:
            # The first byte of a request: its headers (and body) must follow in time.
            self._deadline = self.callLater(self.site.request_timeout, self._too_slow)
        super().dataReceived(data)

    def allHeadersReceived(self) -> None:
        path = getattr(self, "_path", b"")  # twisted.web's parser keeps it here until the end
        self._body_seen = 0
        self._streaming = self.site.streams(path)
        if self._streaming:
            self._stop_deadline()  # upload bytes: the face's idle timeout applies instead
        elif self.length is not None and self.length > self.site.max_body:
            self._refuse("413 Content Too Large",
                         f"request body larger than {self.site.max_body} bytes")
            return
        super().allHeadersReceived()

    def lineReceived(self, line: bytes) -> None:
        if not self._cut:  # the parser may be amid a buffer when a refusal comes
            super().lineReceived(line)

    def rawDataReceived(self, data: bytes) -> None:
        if self._cut:
            return
        if not self._handlingRequest and not self._streaming:
            self._body_seen += len(data)  # a chunked body has no length to check up front
            if self._body_seen > self.site.max_body + 64:  # + chunk framing
                self._refuse("413 Content Too Large",
                             f"request body larger than {self.site.max_body} bytes")
                return
        super().rawDataReceived(data)

    def allContentReceived(self) -> None:
        self._stop_deadline()
        self._streaming = False
        super().allContentReceived()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._stop_deadline()
        super().connectionLost(reason)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        self._refuse("408 Request Timeout",
                     f"request not received within {self.site.request_timeout:g} seconds")

    def cut(self, status: str, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        """Answer the request whose body is arriving at once, and close: for a face that
        streams bodies and knows, before their end, that it will not take them."""
        self._refuse(status, message, headers)

    def _refuse(self, status: str, message: str,
                headers: Sequence[tuple[str, str]] = ()) -> None:
        """Answer at once and close, whatever the request was: it is not parsed any further.

        The answer must reach a client that is still sending (a body too large,
        headers dribbling in): closing at once would make the kernel answer its
        next bytes with a reset, which can destroy the answer before the client
        reads it. So only our side is closed; what still arrives is read and
        dropped for :data:`LINGER` seconds, then the connection goes.
        """
        if self._cut:
            return
        self._cut = True
        self._stop_deadline()
        peer = self.transport.getPeer()
        log.info("cut HTTP client {peer}: {message}", peer=getattr(peer, "host", str(peer)),
                 message=message, event="refused_http")
        self.transport.write(_raw_error(status, message, headers))
        if ITCPTransport.providedBy(self.transport):
            self.transport.loseWriteConnection()
            self._deadline = self.callLater(LINGER, self.transport.abortConnection)
        else:
            self.transport.loseConnection()


class IncomingSite(Site):
    """The server's site on one kind of listener (public, backend, or both)."""

    def __init__(self, resource: Resource, reactor: Any, request_timeout: float,
                 idle_timeout: float, max_body: int = MAX_BODY,
                 streams: Callable[[bytes], bool] = lambda path: False,
                 request_factory: Callable[..., Request] | None = None) -> None:
        super().__init__(resource, reactor=reactor, timeout=idle_timeout,
                         logFormatter=access_log_line, requestFactory=request_factory)
        self.request_timeout = request_timeout
        self.max_body = max_body
        self.streams = streams
        """Whether a request path carries upload bytes (no body cap, no body deadline)."""

    # HTTP/1.1 only: uploads need no HTTP/2, and nginx speaks 1.1. (Twisted types
    # Site.protocol as the factory of its HTTP/2-negotiating wrapper; any HTTPChannel
    # serves, HTTPFactory.buildProtocol only sets callLater and timeOut on it.)
    protocol = GuardedChannel  # type: ignore[assignment]

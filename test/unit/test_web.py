"""The shared HTTP layer in memory: keys, error pages, the access log, deadlines, body caps."""

from __future__ import annotations

import json

import pytest
import treq
from hypothesis import given
from hypothesis import strategies as st
from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.testing import StringTransport
from twisted.web.resource import Resource
from twisted.web.server import Request
from twisted.web.test.requesthelper import DummyChannel
from zope.interface import implementer

from incoming.web import (
    LINGER,
    MAX_BODY,
    ErrorPage,
    Folder,
    IncomingSite,
    KeyGuard,
    access_log_line,
    bearer_token,
    key_matches,
    redacted_uri,
)
from incoming.errors import ErrorCode

KEY = "k" * 20


class _Hello(Resource):
    isLeaf = True

    def render(self, request: Request) -> bytes:
        return b"hello"


def _get(root: Resource, url: str, headers: dict[str, str] | None = None):
    http = StubTreq(root)
    d = http.get(url, headers=headers or {})
    http.flush()
    response = d.result
    return response.code, treq.text_content(response).result, response.headers


def _guarded(keys=(KEY,)) -> Resource:
    folder = Folder()
    folder.putChild(b"hello", _Hello())
    root = Resource()
    root.putChild(b"api", KeyGuard(folder, keys))
    root.putChild(b"leaf", KeyGuard(_Hello(), keys))
    return root


def test_key_guard_lets_a_valid_bearer_key_through():
    """With the key in 'Authorization: Bearer', the guarded resource answers as usual."""
    assert _get(_guarded(), "http://x/api/hello", {"Authorization": f"Bearer {KEY}"})[:2] == (
        200, "hello")
    assert _get(_guarded(), "http://x/leaf", {"Authorization": f"bearer {KEY}"})[:2] == (
        200, "hello")


@pytest.mark.parametrize("header", [None, "Bearer wrong-key-wrong-key", f"Basic {KEY}", "Bearer"])
def test_key_guard_refuses_without_a_valid_key(header):
    """No key, a wrong key or another scheme gets 401 with WWW-Authenticate, in the API's
    error format, and the guarded resource never runs."""
    headers = {"Authorization": header, "Accept": "application/json"} if header else {
        "Accept": "application/json"}
    for url in ("http://x/api/hello", "http://x/leaf", "http://x/api/unknown"):
        code, body, response_headers = _get(_guarded(), url, headers)
        assert code == 401
        assert json.loads(body)["error"]["name"] == "unauthorized"
        assert response_headers.getRawHeaders("www-authenticate") == ['Bearer realm="incoming"']


def test_key_guard_without_keys_is_open():
    """Where no key is configured, the guard lets every request through."""
    assert _get(_guarded(keys=()), "http://x/api/hello")[:2] == (200, "hello")


def test_key_matches_checks_every_key():
    """Any configured key matches; near misses and prefixes do not."""
    keys = ("a" * 16, "b" * 16)
    assert key_matches("b" * 16, keys)
    assert not key_matches("b" * 15, keys)
    assert not key_matches("b" * 17, keys)
    assert not key_matches("", keys)


@given(st.text())
def test_bearer_token_never_fails(header):
    """Any Authorization header yields a string token (empty unless the scheme is Bearer)."""
    request = Request(DummyChannel())
    request.requestHeaders.setRawHeaders(b"authorization", [header.encode("utf-8")])
    token = bearer_token(request)
    assert isinstance(token, str)
    if not header.strip().lower().startswith("bearer"):
        assert token == ""


def test_folder_answers_unknown_paths_in_the_api_error_format():
    """An unknown path below a folder is a 404 with the error JSON, not Twisted's HTML."""
    root = Resource()
    root.putChild(b"incoming", Folder())
    code, body, headers = _get(root, "http://x/incoming/nope/deeper",
                               {"Accept": "application/json"})
    assert code == 404
    assert json.loads(body) == {"error": {"code": 16, "name": "not_found",
                                          "message": "no such path"}}
    code, body, headers = _get(root, "http://x/incoming/nope")
    assert (code, body) == (404, "no such path\n")
    assert headers.getRawHeaders("content-type") == ["text/plain; charset=utf-8"]


def test_error_page_sets_its_status():
    """An ErrorPage answers with the status of its code."""
    root = Resource()
    root.putChild(b"x", ErrorPage(ErrorCode.REQUEST_TOO_LARGE, "too big"))
    assert _get(root, "http://x/x")[:2] == (413, "too big\n")


# -- the access log -----------------------------------------------------------------------------


def test_redacted_uri_hides_secrets_and_shortens_ticket_ids():
    """backendSecret (any case) becomes [redacted]; id and ticket keep 8 characters."""
    uri = (b"/incoming/0.1/backend/upload_status?id=ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
           b"&backendSecret=hunter2hunter2&BACKENDSECRET=x&other=1")
    shown = redacted_uri(uri)
    assert "hunter2" not in shown and "ABCDEFGHI" not in shown
    assert "id=ABCDEFGH&" in shown and "other=1" in shown
    assert shown.count("[redacted]") == 2
    assert redacted_uri(b"/incoming/0.1/frontend/incoming.js") == (
        "/incoming/0.1/frontend/incoming.js")


@given(st.lists(st.tuples(st.sampled_from(["id", "backendSecret", "ticket", "x"]),
                          st.text(min_size=9, alphabet="abcdefghijklmnopqrstuvwxyz0123456789"))))
def test_redacted_uri_never_shows_a_secret_or_a_whole_id(params):
    """Whatever the query, no secret value and no ID longer than 8 characters survives."""
    from urllib.parse import parse_qsl, urlencode, urlsplit

    shown = parse_qsl(urlsplit(redacted_uri(("/p?" + urlencode(params)).encode())).query)
    assert [name for name, _ in shown] == [name for name, _ in params]
    for (name, value), (_, logged) in zip(params, shown, strict=True):
        if name == "backendSecret":
            assert logged == "[redacted]"
        elif name in ("id", "ticket"):
            assert logged == value[:8]
        else:
            assert logged == value


@pytest.mark.parametrize("uri", [
    b"/incoming/0.1/backend/upload_status#?backendSecret=hunter2hunter2&id=ABCDEFGHIJKLMNOP",
    b"//[x?backendSecret=hunter2hunter2&id=ABCDEFGHIJKLMNOP",
    b"/p?x=1#&backendSecret=hunter2hunter2&id=ABCDEFGHIJKLMNOP",
])
def test_redacted_uri_reads_the_query_where_twisted_web_does(uri: bytes) -> None:
    """Whatever precedes the first '?' (a '#', a '//['), the query twisted.web reads is redacted."""
    shown = redacted_uri(uri)
    assert "hunter2" not in shown and "ABCDEFGHI" not in shown
    assert "backendSecret=[redacted]" in shown and "id=ABCDEFGH" in shown


def test_access_log_line_uses_the_redacted_uri():
    """The access log line carries method, redacted path, status and user agent."""
    request = Request(DummyChannel())
    request.method = b"GET"
    request.uri = b"/incoming/0.1/backend/upload_status?id=0123456789abcdef&backendSecret=s3cr3t"
    request.clientproto = b"HTTP/1.1"
    request.code = 200
    request.sentLength = 12
    request.requestHeaders.setRawHeaders(b"user-agent", [b"curl/8"])
    line = access_log_line("[30/Nov/2026:20:00:00 +0000]", request)
    assert "s3cr3t" not in line and "0123456789" not in line
    assert '"GET /incoming/0.1/backend/upload_status?id=01234567&backendSecret=[redacted] ' \
           'HTTP/1.1" 200 12' in line
    assert line.endswith('"curl/8"')


# -- deadlines and body caps ----------------------------------------------------------------------


def _connect(clock: Clock, timeout: float = 30.0, streams=lambda path: False):
    root = Resource()
    root.putChild(b"hello", _Hello())
    site = IncomingSite(root, clock, request_timeout=timeout, idle_timeout=60.0, streams=streams)
    channel = site.buildProtocol(IPv4Address("TCP", "10.0.0.1", 1234))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.1", 1234))
    channel.makeConnection(transport)
    return channel, transport


def test_a_request_that_trickles_its_headers_is_cut_at_the_deadline():
    """One header byte a second: at the request deadline the client gets 408 and is closed."""
    clock = Clock()
    channel, transport = _connect(clock, timeout=30.0)
    request = b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    for byte in request[:29]:
        channel.dataReceived(bytes([byte]))
        clock.advance(1)
    assert not transport.disconnecting
    channel.dataReceived(request[29:30])
    clock.advance(1)
    assert transport.value().startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert transport.disconnecting


def test_a_prompt_request_is_answered_and_its_deadline_cleared():
    """A whole request at once is answered; no deadline is left running after it."""
    clock = Clock()
    channel, transport = _connect(clock)
    channel.dataReceived(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in transport.value() and transport.value().endswith(b"hello")
    clock.advance(3600)
    assert b"408" not in transport.value()


def test_the_deadline_counts_from_the_first_byte_of_each_request():
    """A second request on a kept-alive connection gets its own full deadline."""
    clock = Clock()
    channel, transport = _connect(clock, timeout=10.0)
    channel.dataReceived(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    clock.advance(20)
    channel.dataReceived(b"GET /hello HTTP/1.1\r\n")
    clock.advance(9)
    assert b"408" not in transport.value()
    clock.advance(1.5)
    assert b"408 Request Timeout" in transport.value()


def test_a_body_over_the_cap_is_refused_before_it_is_read():
    """A Content-Length over 64 KiB gets 413 at once and the connection closes."""
    clock = Clock()
    channel, transport = _connect(clock)
    channel.dataReceived(b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                         % (MAX_BODY + 1))
    assert transport.value().startswith(b"HTTP/1.1 413 Content Too Large\r\n")
    assert transport.disconnecting


def test_a_chunked_body_over_the_cap_is_refused():
    """A chunked body is counted as it comes and refused once past the cap."""
    clock = Clock()
    channel, transport = _connect(clock)
    channel.dataReceived(b"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (16384, b"a" * 16384)
    for _ in range(5):
        channel.dataReceived(chunk)
    assert b"413 Content Too Large" in transport.value()
    assert transport.disconnecting


def test_a_body_under_the_cap_is_accepted():
    """A 64 KiB body is read and the request answered."""
    clock = Clock()
    channel, transport = _connect(clock)
    channel.dataReceived(b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                         % MAX_BODY + b"a" * MAX_BODY)
    assert b"200 OK" in transport.value()


def test_streaming_paths_have_no_cap_and_no_body_deadline():
    """On an upload path the body may be large and slow: neither cap nor deadline applies."""
    clock = Clock()
    channel, transport = _connect(clock, timeout=5.0,
                                  streams=lambda path: path.startswith(b"/hello"))
    channel.dataReceived(b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                         % (MAX_BODY * 2))
    for _ in range(20):
        channel.dataReceived(b"a" * 8192)
        clock.advance(1)
    assert b"408" not in transport.value() and b"413" not in transport.value()
    assert b"200 OK" in transport.value()


@implementer(ITCPTransport)
class _HalfClosingTransport(StringTransport):
    """A TCP-like transport that records half-closes and aborts."""

    write_closed = False
    aborted = False

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass

    def loseWriteConnection(self) -> None:
        self.write_closed = True

    def abortConnection(self) -> None:
        self.aborted = True


def test_a_cut_tcp_client_is_half_closed_and_read_until_the_linger_ends():
    """A refused TCP client gets its answer, then our side closes while its late bytes are
    still read (so no reset destroys the answer), and after LINGER seconds it is dropped."""
    clock = Clock()
    root = Resource()
    site = IncomingSite(root, clock, request_timeout=30.0, idle_timeout=60.0)
    channel = site.buildProtocol(IPv4Address("TCP", "10.0.0.1", 1234))
    transport = _HalfClosingTransport()
    channel.makeConnection(transport)
    channel.dataReceived(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                         % (MAX_BODY + 1))
    assert transport.value().startswith(b"HTTP/1.1 413 ")
    assert transport.write_closed and not transport.aborted
    channel.dataReceived(b"a" * 10000)  # still arriving: read and dropped
    clock.advance(LINGER)
    assert transport.aborted


def test_access_log_line_redacts_the_referer_query():
    """A page URL in the Referer that carries a ticket ID or a secret is redacted too."""
    request = Request(DummyChannel())
    request.method = b"GET"
    request.uri = b"/incoming/0.1/frontend/incoming.js"
    request.clientproto = b"HTTP/1.1"
    request.code = 200
    request.requestHeaders.setRawHeaders(
        b"referer", [b"https://app.test/upload?ticket=0123456789abcdefXYZ&backendSecret=s3"])
    line = access_log_line("[30/Nov/2026:20:00:00 +0000]", request)
    assert '"https://app.test/upload?ticket=01234567&backendSecret=[redacted]"' in line
    assert "0123456789" not in line and "s3" not in line.split('"')[-4]

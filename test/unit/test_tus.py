"""The tus face in memory: raw HTTP over a StringTransport into the real site, office and
storage (fake time and threads)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import attrs
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.web.resource import Resource

from incoming.config import Config
from incoming.ingest import SMALL_WRITE, SMALL_WRITE_DELAY
from incoming.limits import ConnectionLimits
from incoming.tus import BATCH_BYTES, TusFace, is_tus_path
from incoming.web import IncomingSite, redacted_uri
from test.support.doubles import HeldThreads
from test.support.harness import SMALL, Server, stored_bytes

TUS = "/incoming/0.1/tus/"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@attrs.define
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def parse(data: bytes) -> list[Response]:
    found = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        found.append(Response(int(lines[0].split()[1]), headers, data[:length]))
        data = data[length:]
    return found


class Tus:
    """A server with the tus face; each request on a connection of its own."""

    def __init__(self, root: Path, config: Config = SMALL, threads: Any = None,
                 per_address: int = 100) -> None:
        self.server = (Server(root, config) if threads is None
                       else Server(root, config, threads=threads))
        self.server.handover.auto_answer = "done"
        self.threads = threads
        self.limits = ConnectionLimits(self.server.clock, per_address, 1000)
        self.face = TusFace(self.server.office, config, self.server.clock, self.limits,
                            self.server.factory.write_budget)
        version = Resource()
        version.putChild(b"tus", self.face.resource())
        prefix = Resource()
        prefix.putChild(b"0.1", version)
        top = Resource()
        top.putChild(b"incoming", prefix)
        self.site = IncomingSite(top, self.server.clock, 30.0, 60.0, streams=is_tus_path,
                                 request_factory=self.face.request_factory)

    def connect(self) -> tuple[Any, StringTransport]:
        address = IPv4Address("TCP", "10.0.0.1", 1234)
        channel = self.site.buildProtocol(address)
        transport = StringTransport(peerAddress=address)
        channel.makeConnection(transport)
        return channel, transport

    def send(self, method: str, path: str, headers: dict[str, str] | None = None,
             body: bytes = b"", tus: bool = True) -> Response:
        channel, transport = self.connect()
        self.start(channel, method, path, headers, len(body), tus)
        channel.dataReceived(body)
        self.settle()
        [response] = parse(transport.value())
        return response

    def settle(self) -> None:
        """Let storage work held in threads, and calls due now, run until nothing is left."""
        self.server.clock.advance(0)
        while self.threads is not None and self.threads.run():
            self.server.clock.advance(0)

    def start(self, channel: Any, method: str, path: str, headers: dict[str, str] | None,
              length: int, tus: bool = True) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: x", f"Content-Length: {length}"]
        if tus:
            lines.append("Tus-Resumable: 1.0.0")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        channel.dataReceived(("\r\n".join(lines) + "\r\n\r\n").encode())

    def create(self, ticket_id: str, length: int, filename: str = "a.bin",
               extra: dict[str, str] | None = None, body: bytes = b"") -> Response:
        headers = {"Upload-Length": str(length),
                   "Upload-Metadata": f"ticket {b64(ticket_id)},filename {b64(filename)}"}
        if body:
            headers["Content-Type"] = "application/offset+octet-stream"
        return self.send("POST", TUS, {**headers, **(extra or {})}, body)

    def patch(self, ticket_id: str, offset: int, body: bytes,
              extra: dict[str, str] | None = None) -> Response:
        headers = {"Upload-Offset": str(offset),
                   "Content-Type": "application/offset+octet-stream", **(extra or {})}
        return self.send("PATCH", TUS + ticket_id, headers, body)

    def open_patch(self, ticket_id: str, length: int) -> tuple[Any, StringTransport]:
        """Create the upload, then start a PATCH of all ``length`` bytes whose body the
        caller sends."""
        self.create(ticket_id, length)
        channel, transport = self.connect()
        self.start(channel, "PATCH", TUS + ticket_id, {
            "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, length)
        return channel, transport

    def head(self, ticket_id: str) -> Response:
        return self.send("HEAD", TUS + ticket_id)


def test_options_lists_version_extensions_max_size_and_checksums(tmp_path: Path) -> None:
    """OPTIONS answers 204 with the tus version, extensions, max size and checksum algorithms."""
    response = Tus(tmp_path).send("OPTIONS", TUS, tus=False)
    assert response.status == 204
    assert response.headers["tus-version"] == "1.0.0"
    assert response.headers["tus-resumable"] == "1.0.0"
    assert set(response.headers["tus-extension"].split(",")) == {
        "creation", "creation-with-upload", "termination", "expiration", "checksum"}
    assert response.headers["tus-max-size"] == str(SMALL.max_upload_size)
    assert response.headers["tus-checksum-algorithm"] == "sha1,sha256"


def test_a_preflight_is_answered_with_the_cors_headers_clients_need(tmp_path: Path) -> None:
    """A CORS preflight gets the origin back, the methods, and the tus headers allowed."""
    response = Tus(tmp_path).send("OPTIONS", TUS + "abc", {
        "Origin": "https://app.test", "Access-Control-Request-Method": "PATCH"}, tus=False)
    assert response.status == 204
    assert response.headers["access-control-allow-origin"] == "https://app.test"
    assert "PATCH" in response.headers["access-control-allow-methods"]
    for name in ("Upload-Offset", "Upload-Metadata", "Tus-Resumable", "Upload-Checksum",
                 "Incoming-Digest", "Incoming-Integrity"):
        assert name in response.headers["access-control-allow-headers"]
    for name in ("Upload-Offset", "Location", "Upload-Length", "Upload-Expires", "Tus-Version",
                 "Incoming-Error", "Incoming-Result"):
        assert name in response.headers["access-control-expose-headers"]


def test_a_foreign_origin_is_refused_when_origins_are_listed(tmp_path: Path) -> None:
    """With allowed_origin set, another site's page gets 403 and no CORS header; a listed
    one gets its origin back."""
    tus = Tus(tmp_path, attrs.evolve(SMALL, allowed_origin=("https://app.test",)))
    ticket = tus.server.ticket()
    refused = tus.create(ticket.id, 10, extra={"Origin": "https://evil.test"})
    assert refused.status == 403 and "access-control-allow-origin" not in refused.headers
    allowed = tus.create(ticket.id, 10, extra={"Origin": "https://app.test"})
    assert allowed.status == 201
    assert allowed.headers["access-control-allow-origin"] == "https://app.test"


def test_another_tus_version_gets_412(tmp_path: Path) -> None:
    """A request without Tus-Resumable 1.0.0 gets 412 with Tus-Version."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    response = tus.send("POST", TUS, {"Tus-Resumable": "0.2.2", "Upload-Length": "5",
                                      "Upload-Metadata": f"ticket {b64(ticket.id)}"}, tus=False)
    assert response.status == 412 and response.headers["tus-version"] == "1.0.0"
    assert tus.send("HEAD", TUS + ticket.id, tus=False).status == 412


def test_creation_answers_201_with_the_ticket_url_and_the_same_again(tmp_path: Path) -> None:
    """POST with a ticket answers 201, Location naming the ticket, Upload-Expires; the same
    POST again answers the same Location; another length is 409."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    first = tus.create(ticket.id, 100, "holiday.mov")
    assert first.status == 201
    assert first.headers["location"] == TUS + ticket.id
    assert first.headers["upload-expires"].endswith("GMT")
    assert tus.create(ticket.id, 100).headers["location"] == TUS + ticket.id
    assert tus.create(ticket.id, 101).status == 409
    assert tus.server.registry.tickets[ticket.id].filename_from_browser == "holiday.mov"


def test_creation_without_a_ticket_or_with_a_bad_one_is_refused(tmp_path: Path) -> None:
    """No ticket is 400, an unknown one 404, a cancelled or finished one 410, each with a
    one-line body."""
    tus = Tus(tmp_path)
    missing = tus.send("POST", TUS, {"Upload-Length": "5",
                                     "Upload-Metadata": f"filename {b64('x')}"})
    assert missing.status == 400 and missing.body.count(b"\n") == 1
    assert tus.create("no-such-ticket", 5).status == 404
    cancelled = tus.server.ticket()
    tus.server.office.cancel_by_backend(cancelled.id, "")
    gone = tus.create(cancelled.id, 5)
    assert gone.status == 410 and gone.headers["incoming-state"] == "cancelled"
    finished = tus.server.ticket()
    assert tus.create(finished.id, 3).status == 201
    assert tus.patch(finished.id, 0, b"abc").status == 204
    tus.server.clock.advance(0)
    assert tus.server.state(finished.id) == "finished"
    assert tus.create(finished.id, 3).status == 410


def test_a_length_over_the_limits_gets_413(tmp_path: Path) -> None:
    """Upload-Length above max_upload_size or the ticket's maxSize is 413."""
    tus = Tus(tmp_path)
    assert tus.create(tus.server.ticket().id, SMALL.max_upload_size + 1).status == 413
    assert tus.create(tus.server.ticket(max_size=10).id, 11).status == 413
    assert tus.create(tus.server.ticket(max_size=10).id, 10).status == 201


def test_head_reports_offset_length_and_no_store(tmp_path: Path) -> None:
    """HEAD answers Upload-Offset, Upload-Length, Cache-Control: no-store; unknown is 404."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    tus.create(ticket.id, 10)
    assert tus.patch(ticket.id, 0, b"12345").status == 204
    head = tus.head(ticket.id)
    assert head.status == 200
    assert (head.headers["upload-offset"], head.headers["upload-length"]) == ("5", "10")
    assert head.headers["cache-control"] == "no-store"
    assert head.headers["incoming-state"] == "uploading"
    assert tus.head("unknown").status == 404
    assert tus.head(tus.server.ticket().id).status == 404  # no tus upload made for it yet


def test_patches_upload_the_file_and_the_backend_gets_it(tmp_path: Path) -> None:
    """Two PATCHes answer 204 with the new offsets; the file is stored and handed over, and
    HEAD then says Incoming-State: finished."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    data = bytes(range(256)) * 100
    tus.create(ticket.id, len(data), "x.bin")
    first = tus.patch(ticket.id, 0, data[:10000])
    assert (first.status, first.headers["upload-offset"]) == (204, "10000")
    last = tus.patch(ticket.id, 10000, data[10000:])
    assert (last.status, last.headers["upload-offset"]) == (204, str(len(data)))
    tus.server.clock.advance(0)
    [(handed, _)] = tus.server.handover.calls
    assert handed.sha256 == hashlib.sha256(data).hexdigest()
    assert handed.filename_from_browser == "x.bin"
    head = tus.head(ticket.id)
    assert head.headers["incoming-state"] == "finished"
    assert head.headers["upload-offset"] == str(len(data))


def test_a_wrong_offset_is_409_before_the_body_is_read(tmp_path: Path) -> None:
    """A PATCH at another offset than the upload's gets 409 at once, and the connection is
    closed; nothing is written."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    tus.create(ticket.id, 100)
    channel, transport = tus.connect()
    tus.start(channel, "PATCH", TUS + ticket.id, {
        "Upload-Offset": "7", "Content-Type": "application/offset+octet-stream"}, 50)
    [response] = parse(transport.value())
    assert response.status == 409
    assert transport.disconnecting
    assert stored_bytes(tus.server, ticket.id) == b""


def test_wrong_content_type_is_415_and_bytes_past_the_length_413(tmp_path: Path) -> None:
    """PATCH needs application/offset+octet-stream (415), and may not go past Upload-Length
    (413)."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    tus.create(ticket.id, 4)
    assert tus.patch(ticket.id, 0, b"ab", {"Content-Type": "text/plain"}).status == 415
    assert tus.patch(ticket.id, 0, b"abcdef").status == 413
    assert tus.head(ticket.id).headers["upload-offset"] == "0"


def test_creation_with_upload_stores_the_body(tmp_path: Path) -> None:
    """A POST with a body creates the upload and writes it; Upload-Offset says how far."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    response = tus.create(ticket.id, 10, body=b"hello")
    assert response.status == 201 and response.headers["upload-offset"] == "5"
    assert tus.head(ticket.id).headers["upload-offset"] == "5"


def test_checksums_are_checked_and_a_mismatch_keeps_nothing(tmp_path: Path) -> None:
    """A matching sha1 or sha256 Upload-Checksum is written; a mismatch is 460 and nothing is
    kept; an unknown algorithm is 400."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    tus.create(ticket.id, 10)
    sha1 = base64.b64encode(hashlib.sha1(b"hello").digest()).decode()
    assert tus.patch(ticket.id, 0, b"hello", {"Upload-Checksum": f"sha1 {sha1}"}).status == 204
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    mismatch = tus.patch(ticket.id, 5, b"world", {"Upload-Checksum": f"sha256 {wrong}"})
    assert mismatch.status == 460
    assert tus.head(ticket.id).headers["upload-offset"] == "5"
    assert tus.patch(ticket.id, 5, b"world", {"Upload-Checksum": "md5 AAAA"}).status == 400
    right = base64.b64encode(hashlib.sha256(b"world").digest()).decode()
    assert tus.patch(ticket.id, 5, b"world", {"Upload-Checksum": f"sha256 {right}"}).status == 204


def test_delete_cancels_and_the_backend_hears_it(tmp_path: Path) -> None:
    """DELETE answers 204, the ticket is cancelled (the backend is told), HEAD is then 410."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    tus.create(ticket.id, 10)
    tus.patch(ticket.id, 0, b"abc")
    assert tus.send("DELETE", TUS + ticket.id).status == 204
    record = tus.server.registry.tickets[ticket.id]
    assert record.state.value == "cancelled" and record.cancelled_by == "frontend"
    assert any(t.state.value == "cancelled" for t, _ in tus.server.handover.calls)
    assert tus.head(ticket.id).status == 410
    assert tus.send("DELETE", TUS + ticket.id).status == 410


def test_delete_after_the_last_byte_is_409(tmp_path: Path) -> None:
    """Once every byte is in, DELETE is too late (409) and the upload goes on."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    tus.server.handover.auto_answer = None  # the backend is slow: the ticket stays handing_over
    tus.create(ticket.id, 3)
    tus.patch(ticket.id, 0, b"abc")
    tus.server.clock.advance(0)
    assert tus.send("DELETE", TUS + ticket.id).status == 409
    assert tus.server.state(ticket.id) == "handing_over"


def test_other_methods_get_405(tmp_path: Path) -> None:
    """GET on an upload URL is 405 with Allow."""
    response = Tus(tmp_path).send("GET", TUS + "abc")
    assert response.status == 405 and "PATCH" in response.headers["allow"]


def test_a_patch_body_is_written_while_it_arrives(tmp_path: Path) -> None:
    """Bytes of a PATCH reach the file before the request's body has ended."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    channel, transport = tus.open_patch(ticket.id, 300_000)
    channel.dataReceived(b"a" * 100_000)
    assert len(stored_bytes(tus.server, ticket.id)) == 100_000
    assert transport.value() == b""
    channel.dataReceived(b"b" * 200_000)
    tus.server.clock.advance(0)
    [response] = parse(transport.value())
    assert response.status == 204 and response.headers["upload-offset"] == "300000"


def test_small_pieces_of_a_body_wait_for_more_but_its_last_byte_does_not(
        tmp_path: Path) -> None:
    """With the server's clock, a PATCH body trickling in small pieces is written once its
    first piece has waited SMALL_WRITE_DELAY (the ingest core's rule), and the body's last
    byte goes at once, so the answer does not wait."""
    tus = Tus(tmp_path)
    tus.face.budget.clock, tus.face.budget.small_write = tus.server.clock, SMALL_WRITE
    ticket = tus.server.ticket()
    channel, transport = tus.open_patch(ticket.id, 100_000)
    channel.dataReceived(b"a" * 10_000)
    channel.dataReceived(b"b" * 10_000)
    assert len(stored_bytes(tus.server, ticket.id)) == 0
    tus.server.clock.advance(SMALL_WRITE_DELAY)
    assert stored_bytes(tus.server, ticket.id) == b"a" * 10_000 + b"b" * 10_000
    channel.dataReceived(b"c" * 80_000)
    [response] = parse(transport.value())
    assert response.status == 204 and response.headers["upload-offset"] == "100000"
    assert not [call for call in tus.server.clock.getDelayedCalls()
                if "SmallWrites" in call.func.__qualname__]


def test_a_slow_disk_pauses_reading_the_request(tmp_path: Path) -> None:
    """While a write is under way, a request that gathered BATCH_BYTES more is not read;
    once storage catches up it is read again and the PATCH completes."""
    threads = HeldThreads()
    size = BATCH_BYTES + 2 * 65536
    tus = Tus(tmp_path, attrs.evolve(SMALL, max_upload_size=10 * BATCH_BYTES,
                                     write_buffer_size=4 * BATCH_BYTES), threads=threads)
    ticket = tus.server.ticket()
    assert tus.create(ticket.id, size).status == 201
    channel, transport = tus.connect()
    tus.start(channel, "PATCH", TUS + ticket.id, {
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, size)
    tus.settle()  # the begin's storage work
    for _ in range(size // 65536 - 1):
        channel.dataReceived(b"x" * 65536)
    assert transport.producerState == "paused"
    tus.settle()
    assert transport.producerState == "producing"
    assert transport.value() == b""  # the body is not all in: no answer yet
    channel.dataReceived(b"x" * 65536)
    tus.settle()
    [response] = parse(transport.value())
    assert response.status == 204 and response.headers["upload-offset"] == str(size)


def test_too_many_requests_from_one_address_get_429(tmp_path: Path) -> None:
    """With one upload request allowed per address, a second one at the same time gets 429."""
    tus = Tus(tmp_path, per_address=1)
    ticket = tus.server.ticket()
    other = tus.server.ticket()
    tus.create(ticket.id, 100)
    tus.create(other.id, 100)
    channel, _ = tus.connect()
    tus.start(channel, "PATCH", TUS + ticket.id, {
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, 100)
    assert tus.patch(other.id, 0, b"abc").status == 429
    channel.dataReceived(b"z" * 100)
    assert tus.patch(other.id, 0, b"abc").status == 204


def test_a_cut_patch_keeps_what_was_written(tmp_path: Path) -> None:
    """A PATCH whose connection is lost keeps its written bytes; HEAD reports them and a new
    PATCH from there completes the file."""
    from twisted.internet.error import ConnectionLost
    from twisted.python.failure import Failure

    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    tus.create(ticket.id, 200_000)
    channel, _ = tus.connect()
    tus.start(channel, "PATCH", TUS + ticket.id, {
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, 200_000)
    channel.dataReceived(b"c" * 120_000)
    channel.connectionLost(Failure(ConnectionLost()))
    offset = int(tus.head(ticket.id).headers["upload-offset"])
    assert offset == 120_000
    assert tus.patch(ticket.id, offset, b"d" * (200_000 - offset)).status == 204
    tus.server.clock.advance(0)
    assert tus.server.state(ticket.id) == "finished"


def test_a_newer_patch_takes_over_and_the_older_gets_423(tmp_path: Path) -> None:
    """A second PATCH for the ticket takes over: the first (a half-dead connection, say) is
    answered 423 and closed."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    tus.create(ticket.id, 100)
    channel, transport = tus.connect()
    tus.start(channel, "PATCH", TUS + ticket.id, {
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, 100)
    channel.dataReceived(b"e" * 40)
    assert tus.patch(ticket.id, 40, b"f" * 60).status == 204
    [older] = parse(transport.value())
    assert older.status == 423 and transport.disconnecting


def test_the_access_log_shows_tus_ticket_ids_cut_short() -> None:
    """Path segments after /incoming/0.1/tus/ keep their first 8 characters."""
    assert redacted_uri(b"/incoming/0.1/tus/ABCDEFGHIJKLMNOP") == "/incoming/0.1/tus/ABCDEFGH"
    assert redacted_uri(b"/incoming/0.1/tus/ABCDEFGHIJ/KLMNOPQRST?x=1") == (
        "/incoming/0.1/tus/ABCDEFGH/KLMNOPQR?x=1")
    assert redacted_uri(b"/incoming/0.1/tus/") == "/incoming/0.1/tus/"
    assert redacted_uri(b"/incoming/0.1/frontend/incoming.js") == (
        "/incoming/0.1/frontend/incoming.js")


def test_a_promised_digest_holds_the_file_until_it_comes_and_head_gives_the_result(
        tmp_path: Path) -> None:
    """Extensions: with Incoming-Integrity the file waits for Incoming-Digest (here on an
    empty last PATCH); once finished HEAD carries Incoming-Result and Incoming-Sha256."""
    tus = Tus(tmp_path)
    tus.server.handover.auto_answer = None
    ticket = tus.server.ticket()
    data = b"x" * 1000
    digest = {"Incoming-Digest": f"sha256={hashlib.sha256(data).hexdigest()}"}
    tus.create(ticket.id, len(data), extra={"Incoming-Integrity": "sha256"})
    assert tus.patch(ticket.id, 0, data).status == 204
    tus.server.clock.advance(0)
    assert tus.head(ticket.id).headers["incoming-state"] == "uploading"  # waits for the digest
    assert tus.patch(ticket.id, len(data), b"", digest).status == 204
    tus.server.clock.advance(0)
    tus.server.handover.answer("done", result='{"url": "/p/\u00e9"}')
    tus.server.clock.advance(0)
    head = tus.head(ticket.id)
    assert head.headers["incoming-state"] == "finished"
    assert head.headers["incoming-result"] == '{"url":"/p/\\u00e9"}'
    assert head.headers["incoming-sha256"] == hashlib.sha256(data).hexdigest()


def test_a_wrong_digest_cancels_and_head_says_error_20(tmp_path: Path) -> None:
    """Extensions: a digest that is not the file's: HEAD answers 410 with Incoming-Error 20;
    an unknown ticket is Incoming-Error 2, a malformed digest 400."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    tus.create(ticket.id, 5, extra={"Incoming-Digest": f"sha256={'a' * 64}"})
    tus.patch(ticket.id, 0, b"hello")
    tus.server.clock.advance(0)
    head = tus.head(ticket.id)
    assert (head.status, head.headers["incoming-error"]) == (410, "20")
    assert tus.head("nope").headers["incoming-error"] == "2"
    bad = tus.create(tus.server.ticket().id, 5, extra={"Incoming-Digest": "sha256=xyz"})
    assert (bad.status, bad.headers["incoming-error"]) == (400, "1")


def test_delete_passes_incoming_reason_to_the_backend(tmp_path: Path) -> None:
    """Extension: DELETE with Incoming-Reason (percent-encoded) is the backend's cancelReason."""
    tus = Tus(tmp_path)
    ticket = tus.server.ticket()
    tus.create(ticket.id, 10)
    assert tus.send("DELETE", TUS + ticket.id, {"Incoming-Reason": "chang%C3%A9"}).status == 204
    assert tus.server.registry.tickets[ticket.id].cancel_reason == "changé"

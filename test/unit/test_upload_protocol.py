"""The WebSocket upload protocol, message by message, over Autobahn in memory."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import attrs
import pytest

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from incoming.office import Upload
from incoming.errors import ErrorCode
from test.support.doubles import HeldThreads, clock_at
from test.support.harness import SMALL, Connection, Server, stored_bytes
from test.support.wsclient import OP_BINARY, frame


@pytest.fixture
def server(tmp_path):
    return Server(tmp_path)


def upload_all(conn, data, chunk=SMALL.chunk_size):
    for start in range(0, len(data), chunk):
        conn.send_bytes(data[start:start + chunk])


def error_of(conn):
    errors = [m for m in conn.messages() if m["type"] == "error"]
    assert errors, "expected an error message"
    return errors[-1]


def test_hello_is_welcomed_with_offset_chunk_size_and_window(server):
    """A first hello gets offset 0, the configured chunk size and window, state uploading."""
    ticket = server.ticket()
    welcome = server.connect().hello(ticket, 1000)
    assert welcome == {"type": "welcome", "offset": 0, "chunkSize": SMALL.chunk_size,
                       "window": SMALL.window_size, "state": "uploading"}


def test_chunks_are_acknowledged_stored_and_handed_over(server):
    """Bytes are acknowledged as written; after the last, stored → handing_over → finished."""
    ticket = server.ticket()
    data = os.urandom(3 * SMALL.chunk_size + 100)
    conn = server.connect()
    conn.hello(ticket, len(data))
    upload_all(conn, data)
    acks = [m["offset"] for m in conn.messages() if m["type"] == "ack"]
    assert acks == [SMALL.chunk_size, 2 * SMALL.chunk_size, 3 * SMALL.chunk_size, len(data)]
    server.clock.advance(0)
    assert [m["state"] for m in conn.messages()] == ["stored", "handing_over"]
    delivered, _ = server.handover.calls[0]
    assert delivered.sha256 == hashlib.sha256(data).hexdigest()
    with open(delivered.path, "rb") as stored:
        assert stored.read() == data
    server.handover.answer("done")
    assert [m["state"] for m in conn.messages()] == ["finished"]
    assert conn.close_code == 1000


def test_wait_answer_is_reported_and_finish_upload_ends_it(server):
    """A backend that answers wait leaves the client in waiting_for_backend until finish_upload."""
    ticket = server.ticket(backend_secret="s")
    conn = server.connect()
    conn.hello(ticket, 10)
    conn.send_bytes(b"0123456789")
    server.clock.advance(0)
    server.handover.answer("wait")
    assert conn.messages()[-1] == {"type": "state", "state": "waiting_for_backend"}
    server.office.finish_upload(ticket.id, "s")
    assert conn.messages() == [{"type": "state", "state": "finished"}]
    assert conn.close_code == 1000


def test_empty_file_needs_no_bytes(server):
    """A file of size 0 is stored straight after the welcome."""
    ticket = server.ticket()
    conn = server.connect()
    assert conn.hello(ticket, 0)["offset"] == 0
    server.clock.advance(0)
    assert [m["state"] for m in conn.messages()] == ["stored", "handing_over"]
    assert server.handover.calls[0][0].sha256 == hashlib.sha256(b"").hexdigest()


def test_pause_and_unpause_are_answered_with_the_state(server):
    """pause answers state paused and is recorded; unpause answers state uploading."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    conn.send({"type": "pause"})
    assert conn.messages() == [{"type": "state", "state": "paused"}]
    assert server.state(ticket.id) == "paused"
    conn.send({"type": "unpause"})
    assert conn.messages() == [{"type": "state", "state": "uploading"}]
    assert server.state(ticket.id) == "uploading"


def test_paused_connection_is_not_idle(server):
    """While paused the idle timeout does not close the connection."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    conn.send({"type": "pause"})
    conn.messages()
    server.clock.advance(SMALL.idle_timeout * 5)
    assert conn.messages() == [] and conn.close_code is None


def test_idle_connection_is_closed_with_error_10(server):
    """A client that stops sending while uploading is closed with idle_timeout (retryable)."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    conn.send_bytes(b"x" * 10)
    conn.messages()
    server.clock.advance(SMALL.idle_timeout - 1)
    assert conn.close_code is None
    server.clock.advance(2)
    assert error_of(conn)["code"] == ErrorCode.IDLE_TIMEOUT
    assert conn.close_code == 4010
    assert stored_bytes(server, ticket.id) == b"x" * 10


def test_no_hello_is_an_idle_timeout(server):
    """A connection that never says hello is closed after the idle timeout."""
    conn = server.connect()
    server.clock.advance(SMALL.idle_timeout + 1)
    assert error_of(conn)["code"] == ErrorCode.IDLE_TIMEOUT


def test_client_cancel_removes_bytes_and_tells_backend(server):
    """cancel answers cancelled (by frontend), closes 1000, removes bytes, calls the backend."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    conn.send_bytes(b"x" * 10)
    conn.send({"type": "cancel", "reason": "changed my mind"})
    assert conn.messages()[-1] == {"type": "cancelled", "by": "frontend",
                                   "reason": "changed my mind"}
    assert conn.close_code == 1000
    assert stored_bytes(server, ticket.id) == b""
    told, _ = server.handover.calls[0]
    assert (told.cancelled_by, told.cancel_reason) == ("frontend", "changed my mind")


def test_backend_cancel_reaches_the_connected_client(server):
    """cancel_upload from the backend sends cancelled (by backend) to the client and closes it."""
    ticket = server.ticket(backend_secret="s")
    conn = server.connect()
    conn.hello(ticket, 100)
    server.office.cancel_by_backend(ticket.id, "s")
    assert conn.messages()[-1]["type"] == "cancelled"
    assert conn.close_code == 1000
    assert server.state(ticket.id) == "cancelled"


def test_second_connection_takes_over(server):
    """A newer connection for the same ticket is welcomed; the older gets error 11 (4011)."""
    ticket = server.ticket()
    first = server.connect()
    first.hello(ticket, 100)
    first.send_bytes(b"a" * 40)
    second = server.connect()
    assert second.hello(ticket, 100)["offset"] == 40
    assert error_of(first)["code"] == ErrorCode.TAKEN_OVER
    assert first.close_code == 4011
    second.send_bytes(b"b" * 60)
    assert stored_bytes(server, ticket.id) == b"a" * 40 + b"b" * 60


def test_reconnect_resumes_from_the_stored_offset(server):
    """After a dropped connection the next welcome offers the bytes already written."""
    ticket = server.ticket()
    data = os.urandom(5000)
    conn = server.connect()
    conn.hello(ticket, len(data))
    conn.send_bytes(data[:3000])
    conn.lose()
    again = server.connect()
    assert again.hello(ticket, len(data))["offset"] == 3000
    again.send_bytes(data[3000:])
    server.clock.advance(0)
    assert server.handover.calls[0][0].sha256 == hashlib.sha256(data).hexdigest()


def test_restart_resumes_and_rehashes_the_partial_file(server):
    """A new server process resumes from the partial file and still computes the right SHA-256."""
    ticket = server.ticket()
    data = os.urandom(5000)
    conn = server.connect()
    conn.hello(ticket, len(data))
    conn.send_bytes(data[:2500])
    after = server.restarted()
    again = after.connect()
    assert again.hello(ticket, len(data))["offset"] == 2500
    again.send_bytes(data[2500:])
    after.clock.advance(0)
    assert after.handover.calls[0][0].sha256 == hashlib.sha256(data).hexdigest()


def test_reconnect_after_all_bytes_only_listens(server):
    """A client that reconnects once its file is stored is welcomed at the end and told states."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 4)
    conn.send_bytes(b"abcd")
    server.clock.advance(0)
    conn.lose()
    again = server.connect()
    assert again.hello(ticket, 4) == {"type": "welcome", "offset": 4, "chunkSize": SMALL.chunk_size,
                                      "window": SMALL.window_size, "state": "handing_over"}
    server.handover.answer("done")
    assert again.messages() == [{"type": "state", "state": "finished"}]


@pytest.mark.parametrize("message, code", [
    ({"type": "hello", "ticket": "nope", "size": 1}, ErrorCode.UNKNOWN_TICKET),
    ({"type": "hello", "ticket": "T", "size": -1}, ErrorCode.BAD_REQUEST),
    ({"type": "hello", "ticket": "T", "size": "12"}, ErrorCode.BAD_REQUEST),
    ({"type": "hello", "ticket": "T", "size": True}, ErrorCode.BAD_REQUEST),
    ({"type": "hello", "size": 1}, ErrorCode.BAD_REQUEST),
    ({"type": "hello", "ticket": "", "size": 1}, ErrorCode.BAD_REQUEST),
    ({"type": "hello", "ticket": "t" * 257, "size": 1}, ErrorCode.BAD_REQUEST),
    ({"type": "hello", "ticket": "T", "size": 1, "filename": 7}, ErrorCode.BAD_REQUEST),
    ({"type": "hello", "ticket": "T", "size": 1, "filename": "x" * 1025}, ErrorCode.BAD_REQUEST),
    ({"type": "hello", "ticket": "T", "size": SMALL.max_upload_size + 1}, ErrorCode.TOO_LARGE),
    ({"type": "pause"}, ErrorCode.BAD_REQUEST),
    ({"type": "launch"}, ErrorCode.BAD_REQUEST),
])
def test_bad_hellos_are_refused(server, message, code):
    """Each malformed or unacceptable first message gets its numbered error and close 4000+code."""
    ticket = server.ticket()
    if message.get("ticket") == "T":
        message["ticket"] = ticket.id
    conn = server.connect()
    conn.send(message)
    assert error_of(conn)["code"] == code
    assert conn.close_code == 4000 + code


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"no": "type"}', b'"hello"'])
def test_malformed_text_is_refused(server, raw):
    """Text that is not a JSON object with a type is error 1."""
    conn = server.connect()
    conn.send_text(raw)
    assert error_of(conn)["code"] == ErrorCode.BAD_REQUEST


def test_a_text_message_over_16_kib_is_refused(server):
    """The limit docs/protocol.rst gives; a hello of exactly 16 KiB is still read."""
    ticket = server.ticket()
    padded = json.dumps({"type": "hello", "ticket": ticket.id, "size": 5, "pad": ""}).encode()
    at_limit = padded.replace(b'"pad": ""', b'"pad": "' + b"p" * (16384 - len(padded)) + b'"')
    assert len(at_limit) == 16384
    conn = server.connect()
    conn.send_text(at_limit)
    assert conn.messages()[0]["type"] == "welcome"
    conn = server.connect()
    conn.send_text(at_limit.replace(b'"pad": "', b'"pad": "p'))
    error = error_of(conn)
    assert error["code"] == ErrorCode.BAD_REQUEST and "too long" in error["message"]


def test_bytes_before_welcome_are_refused(server):
    """Binary data before hello is error 1."""
    conn = server.connect()
    conn.send_bytes(b"early")
    assert error_of(conn)["code"] == ErrorCode.BAD_REQUEST


def test_second_hello_is_refused(server):
    """A second hello on one connection is error 1, and the stored bytes stay."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    conn.send_bytes(b"k" * 20)
    conn.send({"type": "hello", "ticket": ticket.id, "size": 100})
    assert error_of(conn)["code"] == ErrorCode.BAD_REQUEST
    assert stored_bytes(server, ticket.id) == b"k" * 20


def test_ticket_max_size_is_enforced(server):
    """A ticket's maxSize lowers the limit: a larger file is error 5."""
    ticket = server.ticket(max_size=50)
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": 51})
    assert error_of(conn)["code"] == ErrorCode.TOO_LARGE


def test_size_must_not_change_between_connections(server):
    """A reconnect declaring another size is error 6 and keeps the bytes."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    conn.send_bytes(b"z" * 30)
    conn.lose()
    again = server.connect()
    again.send({"type": "hello", "ticket": ticket.id, "size": 200})
    assert error_of(again)["code"] == ErrorCode.SIZE_MISMATCH
    assert stored_bytes(server, ticket.id) == b"z" * 30


def test_oversized_chunk_is_refused(server):
    """A binary message above chunkSize is error 7; the bytes before it stay."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100_000)
    conn.send_bytes(b"a" * 100)
    conn.send_bytes(b"b" * (SMALL.chunk_size + 1))
    assert error_of(conn)["code"] == ErrorCode.CHUNK_TOO_LARGE
    assert conn.close_code == 4007
    assert stored_bytes(server, ticket.id) == b"a" * 100


def test_bytes_beyond_the_size_are_refused(server):
    """Bytes past the declared size are error 8 and are not written."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 10)
    conn.send_bytes(b"a" * 6)
    conn.send_bytes(b"b" * 6)
    assert error_of(conn)["code"] == ErrorCode.BEYOND_SIZE
    assert stored_bytes(server, ticket.id) == b"a" * 6


def test_window_is_enforced_while_writes_are_pending(tmp_path):
    """Sending more than window bytes beyond the last ack is error 9."""
    server = Server(tmp_path, threads=HeldThreads())
    ticket = server.ticket()
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": 100_000})
    server.threads.run()
    assert conn.messages()[0]["type"] == "welcome"
    for _ in range(SMALL.window_size // SMALL.chunk_size):
        conn.send_bytes(b"w" * SMALL.chunk_size)
    assert conn.close_code is None
    conn.send_bytes(b"w")
    assert error_of(conn)["code"] == ErrorCode.WINDOW_EXCEEDED
    server.threads.run()
    # The write under way lands; the bytes gathered behind it were never acknowledged.
    assert stored_bytes(server, ticket.id) == b"w" * SMALL.chunk_size


def test_finished_ticket_is_refused_with_its_state(server):
    """A hello for a finished ticket is error 4 naming the state."""
    ticket = server.ticket()
    server.handover.auto_answer = "done"
    conn = server.connect()
    conn.hello(ticket, 1)
    conn.send_bytes(b"1")
    server.clock.advance(0)
    again = server.connect()
    again.send({"type": "hello", "ticket": ticket.id, "size": 1})
    error = error_of(again)
    assert error["code"] == ErrorCode.TICKET_CLOSED and "finished" in error["message"]


def test_storage_failure_is_a_retryable_error(server, monkeypatch):
    """A failing write is error 12 (retryable); a reconnect resumes from what is on disk."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    conn.send_bytes(b"g" * 40)
    real_pwritev = os.pwritev
    monkeypatch.setattr(os, "pwritev", lambda *a: (_ for _ in ()).throw(OSError(28, "No space")))
    conn.send_bytes(b"h" * 10)
    error = error_of(conn)
    assert error["code"] == ErrorCode.STORAGE_FULL and "no space left" in error["message"]
    monkeypatch.setattr(os, "pwritev", real_pwritev)
    again = server.connect()
    assert again.hello(ticket, 100)["offset"] == 40


def test_cancel_reason_must_be_text(server):
    """A cancel whose reason is not a string is error 1 and cancels nothing."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    conn.send({"type": "cancel", "reason": 5})
    assert error_of(conn)["code"] == ErrorCode.BAD_REQUEST
    assert server.state(ticket.id) == "uploading"


def test_messages_sent_before_the_welcome_wait_for_it(tmp_path):
    """A cancel sent right behind the hello is handled after the welcome, not refused."""
    server = Server(tmp_path, threads=HeldThreads())
    ticket = server.ticket()
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": 100})
    conn.send({"type": "cancel", "reason": "quick"})
    server.threads.run()
    kinds = [m["type"] for m in conn.messages()]
    assert kinds == ["welcome", "cancelled"]


def test_messages_waiting_for_the_welcome_are_bounded(tmp_path):
    """A client that floods text messages while its hello is being checked is refused with
    error 1 once more than a few wait, instead of queueing without bound."""
    from incoming.upload_protocol import MAX_WAITING_MESSAGES

    server = Server(tmp_path, threads=HeldThreads())
    ticket = server.ticket()
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": 100})
    for _ in range(MAX_WAITING_MESSAGES + 1):
        conn.send({"type": "pause"})
    error = conn.messages()[-1]
    assert (error["type"], error["code"]) == ("error", 1)
    assert error["message"] == "too many messages before the welcome"


def test_config_sizes_reach_the_client(tmp_path):
    """welcome carries the server's configured chunk size and window."""
    config = attrs.evolve(SMALL, chunk_size=4096, window_size=12288)
    server = Server(tmp_path, config=config)
    welcome = server.connect().hello(server.ticket(), 5)
    assert (welcome["chunkSize"], welcome["window"]) == (4096, 12288)


def test_messages_gather_while_a_write_is_under_way(tmp_path):
    """While one write is under way, the next messages gather into one write and one ack."""
    config = attrs.evolve(SMALL, chunk_size=4096, window_size=65536)
    server = Server(tmp_path, config=config, threads=HeldThreads())
    ticket = server.ticket()
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": 100_000})
    server.threads.run()
    conn.messages()
    for _ in range(10):
        conn.send_bytes(b"c" * 4096)
    server.threads.run()
    acks = [m["offset"] for m in conn.messages() if m["type"] == "ack"]
    assert acks == [4096, 40960]


def test_reading_stops_while_too_many_bytes_wait_for_the_disk(tmp_path):
    """Past write_buffer_size of unwritten bytes the connection is not read; it resumes after."""
    config = attrs.evolve(SMALL, write_buffer_size=12000)
    server = Server(tmp_path, config=config, threads=HeldThreads())
    first, second = server.connect(), server.connect()
    for conn in (first, second):
        conn.send({"type": "hello", "ticket": server.ticket().id, "size": 100_000})
    server.threads.run()
    first.send_bytes(b"d" * 8192)
    assert first.transport.producerState == "producing"
    second.send_bytes(b"d" * 8192)
    assert second.transport.producerState == "paused"
    conn = second
    server.threads.run()
    assert conn.transport.producerState == "producing"
    assert server.factory.write_budget.used == 0


def uploads_under_a_budget(tmp_path, write_buffer_size: int, size: int, count: int = 2):
    """A server whose writes wait for ``threads.run()``, and ``count`` connections welcomed."""
    config = attrs.evolve(SMALL, write_buffer_size=write_buffer_size)
    server = Server(tmp_path, config=config, threads=HeldThreads())
    conns = [server.connect() for _ in range(count)]
    tickets = [server.ticket() for _ in range(count)]
    for conn, ticket in zip(conns, tickets, strict=True):
        conn.send({"type": "hello", "ticket": ticket.id, "size": size})
    server.threads.run()
    return server, conns, tickets


def test_when_gathered_bytes_alone_could_block_every_connection_writes_them(tmp_path):
    """Bytes of messages not yet whole are written once the budget holds a connection and
    they alone exceed half the limit, from every connection: a held one is not read, and a
    slow client may stop mid-message, so nothing else would let those bytes go and the total
    would never fall back under half the limit."""
    server, (slow, held), tickets = uploads_under_a_budget(tmp_path, 12000, 8192)
    payloads = [os.urandom(8192) for _ in range(2)]
    frames = [frame(OP_BINARY, payload) for payload in payloads]
    slow.protocol.dataReceived(frames[0][:7000])  # and then it stops sending
    held.protocol.dataReceived(frames[1][:7000])
    assert held.transport.producerState == "paused"
    server.threads.run()
    assert held.transport.producerState == "producing"
    assert stored_bytes(server, tickets[0].id) == payloads[0][:6992]  # 8 bytes of header
    held.protocol.dataReceived(frames[1][7000:])
    server.threads.run()
    assert stored_bytes(server, tickets[1].id) == payloads[1]


def test_a_hold_that_writes_under_way_will_end_leaves_half_messages_gathering(tmp_path):
    """When the bytes being written are what keeps the total over the limit, a held
    connection waits for them, and nobody writes half a message early (with many uploads,
    writing everything gathered on every hold made a storm of small writes)."""
    server, (writing, held), tickets = uploads_under_a_budget(tmp_path, 12000, 8192)
    payload = os.urandom(8192)
    writing.send_bytes(b"w" * 8192)  # a whole message: its write is under way
    masked = frame(OP_BINARY, payload)
    held.protocol.dataReceived(masked[:4000])
    budget = server.factory.write_budget
    assert held.transport.producerState == "paused"
    assert (budget.used, budget.gathered) == (8192 + 3992, 3992)
    server.threads.run()  # the write under way ends
    assert held.transport.producerState == "producing"
    assert stored_bytes(server, tickets[1].id) == b""  # its half message waited
    held.protocol.dataReceived(masked[4000:])
    server.threads.run()
    assert stored_bytes(server, tickets[1].id) == payload
    assert (budget.used, budget.gathered) == (0, 0)


def test_gathered_bytes_over_half_the_limit_are_written_when_anyone_is_held(tmp_path):
    """Between half the limit and the limit, gathered bytes could already keep the total
    above half for good (here: behind a client that stopped mid-message), so a hold makes
    everyone write them."""
    server, (writing, stopped, held), _ = uploads_under_a_budget(tmp_path, 12000, 8192, 3)
    writing.send_bytes(b"w" * 5000)  # a whole message: its write is under way
    stopped.protocol.dataReceived(frame(OP_BINARY, os.urandom(8192))[:7000])  # 6992 bytes
    held.protocol.dataReceived(frame(OP_BINARY, os.urandom(8192))[:200])  # 192: over the limit
    budget = server.factory.write_budget
    assert held.transport.producerState == "paused"
    assert (budget.used, budget.gathered) == (5000 + 6992 + 192, 0)
    server.threads.run()
    assert held.transport.producerState == "producing"


@pytest.mark.parametrize("end", ["lost", "closed by the server"])
def test_a_connection_ending_mid_message_gives_its_bytes_back_to_the_budget(tmp_path, end):
    """At once, also while the closing handshake runs (it may take seconds)."""
    server, (conn, _), tickets = uploads_under_a_budget(tmp_path, 12000, 8192)
    conn.protocol.dataReceived(frame(OP_BINARY, os.urandom(8192))[:4000])
    budget = server.factory.write_budget
    assert (budget.used, budget.gathered) == (3992, 3992)
    if end == "lost":
        conn.lose()
    else:
        server.office.cancel_by_backend(tickets[0].id, tickets[0].backend_secret)
        server.threads.run()
        assert conn.messages()[-1]["type"] == "cancelled" and conn.close_code == 1000
        assert conn.protocol.state == conn.protocol.STATE_CLOSING  # no answer to the close yet
    assert (budget.used, budget.gathered) == (0, 0)


def test_a_write_failing_unexpectedly_ends_its_own_connection_only(tmp_path, monkeypatch):
    """A write that raises what no one expected (a bug) gives its bytes back to the budget and
    ends its connection with error 12 (retry), even when another connection's read made it
    flush; the other connection carries on."""
    server, (broken, reading), _ = uploads_under_a_budget(tmp_path, 12000, 8192)

    upload_write, broken_upload = Upload.write, broken.protocol._upload

    def write(upload, *args):
        if upload is broken_upload:
            raise RuntimeError("a bug")
        return upload_write(upload, *args)

    monkeypatch.setattr(Upload, "write", write)
    broken.protocol.dataReceived(frame(OP_BINARY, os.urandom(8192))[:7000])
    reading.protocol.dataReceived(frame(OP_BINARY, os.urandom(8192))[:7000])  # flushes everyone
    assert error_of(broken) == {"type": "error", "code": 12, "message": "internal server error",
                                "state": "uploading"}
    assert broken.close_code == 4012 and reading.close_code is None
    assert server.factory.write_budget.used == 6992  # only the bytes being written
    server.threads.run()
    assert server.factory.write_budget.used == 0


def test_a_held_connection_is_not_idle(tmp_path):
    config = attrs.evolve(SMALL, write_buffer_size=4096, idle_timeout=5.0)
    server = Server(tmp_path, config=config, threads=HeldThreads())
    conn = server.connect()
    conn.send({"type": "hello", "ticket": server.ticket().id, "size": 100_000})
    server.threads.run()
    conn.send_bytes(b"h" * 8192)
    assert conn.transport.producerState == "paused"
    server.clock.advance(6)
    assert conn.messages()[-1]["type"] == "welcome" and conn.close_code is None


def test_a_frame_claiming_an_enormous_length_is_refused_with_a_message(server):
    """The length is checked first, and reads are never sized by it beyond MAX_READ (a read
    of 2**62 bytes would fail to allocate before the client heard why)."""
    from incoming.upload_protocol import MAX_READ

    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    conn.protocol.dataReceived(bytes([0x82, 0xFF]) + (1 << 62).to_bytes(8, "big") + b"abcd")
    error = conn.messages()[-1]
    assert error["type"] == "error" and error["code"] == int(ErrorCode.CHUNK_TOO_LARGE)
    assert conn.transport.bufferSize <= MAX_READ


def test_without_autobahns_c_masker_autobahn_unmasks_and_bytes_still_land(tmp_path,
                                                                         monkeypatch):
    from incoming import unmasking

    monkeypatch.setattr(unmasking, "XorMaskerNvx", None)
    server = Server(tmp_path)
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 5000)
    data = os.urandom(5000)
    conn.send_bytes(data[:3000])
    conn.send_bytes(data[3000:])
    server.clock.advance(0)
    assert stored_bytes(server, ticket.id) == data


def unmasked(piece) -> bytes:
    target = bytearray(len(piece))
    piece.copy_into(memoryview(target))
    return bytes(target)


def test_binary_payloads_leave_autobahn_masked_and_unmask_in_any_cut():
    """The pass-through masker hands payloads on masked, each piece carrying the key as it
    applies to it: split calls and cuts at odd places still uncover the original bytes."""
    from incoming.unmasking import pass_through_masker
    from test.support.wsclient import mask as xor_mask

    key, data = b"\x12\x34\x56\x78", os.urandom(10_001)
    masker = pass_through_masker(key)
    assert masker is not None, "Autobahn's NVX extension is expected on this platform"
    masked = xor_mask(data, key)
    pieces = [masker.process(masked[:3]), masker.process(masked[3:5000]),
              masker.process(masked[5000:])]
    assert masker.pointer() == len(data)
    assert bytes(pieces[0].data) == masked[:3], "nothing is unmasked on the reactor thread"
    assert b"".join(unmasked(piece) for piece in pieces) == data
    middle = pieces[1]
    cuts = [middle.cut(0, 1), middle.cut(1, 2002), middle.cut(2002, len(middle))]
    assert b"".join(unmasked(piece) for piece in cuts) == data[3:5000]


def test_cancel_after_the_last_byte_is_ignored(server):
    """A client cancel that arrives after the last byte changes nothing: the upload finishes."""
    ticket = server.ticket()
    server.handover.auto_answer = "done"
    conn = server.connect()
    conn.hello(ticket, 3)
    conn.send_bytes(b"abc")
    conn.send({"type": "cancel", "reason": "too late"})
    server.clock.advance(0)
    states = [m.get("state") for m in conn.messages() if m["type"] != "ack"]
    assert states == ["stored", "handing_over", "finished"]
    assert server.state(ticket.id) == "finished"


def test_a_held_connection_is_read_again_when_the_server_closes_it(tmp_path):
    """A connection not read for want of disk is read again once the server closes it."""
    config = attrs.evolve(SMALL, write_buffer_size=4096)
    server = Server(tmp_path, config=config, threads=HeldThreads())
    ticket = server.ticket(backend_secret="s")
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": 100_000})
    server.threads.run()
    conn.send_bytes(b"h" * 8192)
    assert conn.transport.producerState == "paused"
    server.office.cancel_by_backend(ticket.id, "s")
    server.threads.run()
    assert conn.messages()[-1]["type"] == "cancelled" and conn.close_code == 1000
    assert conn.transport.producerState == "producing"


# -- who may connect: origin, per-address cap and rate (onConnect) ---------------------------------

class TCPLikeTransport(StringTransport):
    """Like Twisted's TCP transport, it lets a protocol unregister no producer (Autobahn does
    when it drops a connection)."""

    def unregisterProducer(self):
        if self.producer is not None:
            super().unregisterProducer()


def handshake(server, origin=None, peer="192.0.2.10", forwarded_for=None):
    """A WebSocket opening handshake from ``peer``; the protocol, its transport, the answer's
    status line."""
    protocol = server.factory.buildProtocol(IPv4Address("TCP", peer, 50000))
    transport = TCPLikeTransport(peerAddress=IPv4Address("TCP", peer, 50000))
    transport.bufferSize = 65536
    protocol.makeConnection(transport)
    key = base64.b64encode(os.urandom(16)).decode()
    extra = f"Origin: {origin}\r\n" if origin is not None else ""
    extra += f"X-Forwarded-For: {forwarded_for}\r\n" if forwarded_for is not None else ""
    protocol.dataReceived(
        f"GET /incoming/0.1/frontend/upload_ws HTTP/1.1\r\nHost: localhost\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{extra}\r\n".encode())
    status = transport.value().split(b"\r\n", 1)[0].decode()
    transport.clear()
    return protocol, transport, status


def limited_server(tmp_path, **options):
    return Server(tmp_path, config=attrs.evolve(SMALL, **options))


@pytest.fixture
def logged():
    from twisted.logger import globalLogPublisher

    events = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


def refusal_lines(events):
    from twisted.logger import formatEvent

    return [formatEvent(e) for e in events if "refused an upload connection" in
            e.get("log_format", "")]


@pytest.mark.parametrize("origin", ["null", "https://evil.example", "http://app.example.com",
                                    "https://app.example.com:8443",
                                    "https://app.example.com.evil.example"])
def test_a_foreign_origin_is_refused_with_403(tmp_path, logged, origin):
    """With allowed_origin set, another Origin (also "null") gets 403 and the connection closes,
    logged in one line without a traceback."""
    server = limited_server(tmp_path, allowed_origin=("https://app.example.com",))
    protocol, transport, status = handshake(server, origin=origin)
    assert status == "HTTP/1.1 403 origin not allowed"
    assert transport.disconnecting
    [line] = refusal_lines(logged)
    assert "403" in line and "\n" not in line
    assert not any(e.get("log_failure") for e in logged)
    assert server.factory.limits.open_total == 0


@pytest.mark.parametrize("origin", ["https://app.example.com", "HTTPS://App.Example.COM", None])
def test_an_allowed_origin_is_welcomed(tmp_path, origin):
    """An Origin on the list, in any case, is accepted and its upload works; so is a client
    that sends no Origin (not a browser: nothing for the check to protect)."""
    server = limited_server(tmp_path, allowed_origin=("https://other.example",
                                                      "https://app.example.com"))
    protocol, transport, status = handshake(server, origin=origin)
    assert status == "HTTP/1.1 101 Switching Protocols"


def test_without_allowed_origin_any_origin_is_accepted(tmp_path):
    """Unset, the ticket is the capability: any Origin ("null" of sandboxed pages too), or
    none, is accepted."""
    server = Server(tmp_path)
    for origin in (None, "https://anything.example", "null"):
        assert handshake(server, origin=origin)[2] == "HTTP/1.1 101 Switching Protocols"


def test_open_connections_per_address_are_capped_with_429(tmp_path, logged):
    """Past max_connections_per_address the handshake gets 429 with the reason; another
    address is not affected; closing one makes room again."""
    server = limited_server(tmp_path, max_connections_per_address=2)
    first, _, _ = handshake(server)
    handshake(server)
    _, transport, status = handshake(server)
    assert status.startswith("HTTP/1.1 429 too many open connections from your address")
    assert transport.disconnecting
    assert handshake(server, peer="192.0.2.11")[2].endswith("101 Switching Protocols")
    assert server.factory.limits.open_total == 3
    first.connectionLost(Failure(ConnectionDone()))
    assert server.factory.limits.open_total == 2
    assert handshake(server)[2].endswith("101 Switching Protocols")
    assert len(refusal_lines(logged)) == 1


def test_new_connections_per_address_are_rate_limited_with_429(tmp_path):
    """Past connection_rate_per_address new handshakes a second the next gets 429; a moment
    later one more is admitted."""
    server = limited_server(tmp_path, connection_rate_per_address=3)
    for _ in range(3):
        protocol, _, status = handshake(server)
        assert status.endswith("101 Switching Protocols")
        protocol.connectionLost(Failure(ConnectionDone()))
    status = handshake(server)[2]
    assert status.startswith("HTTP/1.1 429 too many new connections from your address")
    server.clock.advance(0.34)
    assert handshake(server)[2].endswith("101 Switching Protocols")


def test_a_trusted_proxys_clients_are_counted_each_by_their_own_address(tmp_path):
    """Behind a trusted proxy each X-Forwarded-For client has its own cap; from an untrusted
    peer the header is ignored."""
    server = limited_server(tmp_path, max_connections_per_address=1,
                            trusted_proxy=("127.0.0.1/32",))
    for client in ("198.51.100.1", "198.51.100.2"):
        assert handshake(server, peer="127.0.0.1", forwarded_for=client)[2].endswith("101 "
                                                                                     "Switching "
                                                                                     "Protocols")
    assert " 429 " in handshake(server, peer="127.0.0.1", forwarded_for="198.51.100.1")[2]
    assert handshake(server, peer="192.0.2.50", forwarded_for="198.51.100.3")[2].endswith(
        "101 Switching Protocols")
    assert " 429 " in handshake(server, peer="192.0.2.50", forwarded_for="198.51.100.4")[2]


def test_a_refused_handshake_leaves_other_uploads_alone(tmp_path):
    """An upload under way carries on while its neighbours are refused."""
    server = limited_server(tmp_path, max_connections_per_address=1)
    ticket = server.ticket()
    conn = Connection(*handshake(server)[:2])
    conn.hello(ticket, 20)
    conn.send_bytes(b"a" * 10)
    for _ in range(5):
        assert " 429 " in handshake(server)[2]
    conn.send_bytes(b"b" * 10)
    assert stored_bytes(server, ticket.id) == b"a" * 10 + b"b" * 10
    assert conn.close_code is None


# -- Autobahn's defaults are not ours: each setting that matters, as a regression ------------------

def test_the_factory_sets_each_protocol_limit_deliberately(tmp_path):
    """Pings at ping_interval, the opening handshake bounded by request_timeout, violations
    answered with a close frame, sizes checked by the protocol (text at 16 KiB), no
    compression (a zip bomb could not be bounded per message)."""
    from incoming.upload_protocol import MAX_TEXT_MESSAGE, UploadFactory

    config = attrs.evolve(SMALL, ping_interval=7.0, request_timeout=3.0, idle_timeout=99.0)
    factory = UploadFactory(Server(tmp_path).office, config, clock_at())
    assert factory.autoPingInterval == 7.0 and factory.autoPingTimeout == 8.0
    assert factory.openHandshakeTimeout == 3.0
    assert factory.failByDrop is False
    assert factory.perMessageCompressionAccept([object()]) is None
    assert MAX_TEXT_MESSAGE == 16 * 1024


def test_a_handshake_that_never_completes_is_dropped_after_request_timeout(tmp_path,
                                                                          monkeypatch):
    """A client that sends half an upgrade request is dropped once request_timeout passes."""
    import txaio

    from incoming.upload_protocol import UploadFactory

    clock = clock_at()
    monkeypatch.setattr(txaio.config, "loop", clock)  # Autobahn's timers, on our clock
    config = attrs.evolve(SMALL, request_timeout=2.0, idle_timeout=60.0)
    factory = UploadFactory(Server(tmp_path).office, config, clock)
    factory.setProtocolOptions(autoPingInterval=0, allowNullOrigin=True)
    protocol = factory.buildProtocol(IPv4Address("TCP", "192.0.2.1", 1))
    transport = TCPLikeTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(b"GET /incoming/0.1/frontend/upload_ws HTTP/1.1\r\nHost: x\r\n")
    clock.advance(1.5)
    assert not transport.disconnecting
    clock.advance(1.0)
    assert transport.disconnecting


@pytest.mark.parametrize("name, data", [
    ("unmasked frame", bytes([0x81, 0x05]) + b"hello"),
    ("reserved opcode", frame(0x3, b"x")),
    ("control frame over 125 bytes", frame(0x9, b"p" * 126)),
    ("continuation without a start", frame(0x0, b"x")),
    ("length with the top bit set", bytes([0x82, 0xFF]) + (1 << 63).to_bytes(8, "big")
     + b"abcd"),
])
def test_a_protocol_violation_is_answered_with_close_1002(server, name, data):
    """A frame that breaks RFC 6455 gets a close frame with 1002, not a silent drop; the
    server's other uploads carry on."""
    ticket = server.ticket()
    good = server.connect()
    good.hello(ticket, 10)
    bad = Connection(*handshake(server)[:2])
    bad.protocol.dataReceived(data)
    bad.messages()
    assert bad.close_code == 1002, name
    good.send_bytes(b"0123456789")
    assert stored_bytes(server, ticket.id) == b"0123456789"


def test_invalid_utf8_is_answered_with_close_1007(server):
    """Text that is not UTF-8 gets close 1007 (RFC 6455 §8.1)."""
    conn = Connection(*handshake(server)[:2])
    conn.send_text(b'{"type": "hello", "x": "\xff\xfe"}')
    conn.messages()
    assert conn.close_code == 1007


def test_autobahns_queued_writes_still_reach_the_client(server, monkeypatch):
    """Autobahn sends its queued (sync or chopped) writes with its own ``_send()``; a method of
    ours by that name once shadowed it, and such a write raised TypeError instead."""
    import txaio

    monkeypatch.setattr(txaio, "call_later", lambda delay, fn, *args: None)  # no reactor timer
    conn = server.connect()
    conn.protocol.sendMessage(json.dumps({"type": "queued"}).encode(), isBinary=False, sync=True)
    assert conn.messages() == [{"type": "queued"}]

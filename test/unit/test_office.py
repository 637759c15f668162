"""The ticket office: lifecycle rules that no single message shows."""

from __future__ import annotations

import os

import pytest
from twisted.logger import capturedLogs, formatEvent

from incoming.office import Hello
from incoming.errors import ErrorCode, IncomingError
from incoming.lifecycle import Lifecycle
from incoming.metrics import Metrics
from incoming.tickets import State
from test.support.doubles import HeldThreads, clock_at
from test.support.harness import SMALL, Server, stored_bytes


@pytest.fixture
def server(tmp_path):
    return Server(tmp_path)


def failure_of(d):
    errors = []
    d.addErrback(errors.append)
    assert errors, "expected a failure"
    return errors[0].value


def finish_bytes(server, ticket, data=b"hello"):
    conn = server.connect()
    conn.hello(ticket, len(data))
    conn.send_bytes(data)
    server.clock.advance(0)
    return conn


def test_done_removes_the_file_when_asked(server):
    """After done, the stored file is removed if removeFileWhenFinished is true."""
    ticket = server.ticket()
    finish_bytes(server, ticket)
    path = server.handover.calls[0][0].path
    assert os.path.exists(path)
    server.handover.answer("done")
    assert not os.path.exists(path)
    assert server.registry.tickets[ticket.id].backend_told


def test_done_keeps_the_file_when_asked(server):
    """With removeFileWhenFinished false the stored file stays after done."""
    ticket = server.ticket(remove_file_when_finished=False)
    finish_bytes(server, ticket)
    server.handover.answer("done")
    assert os.path.exists(server.registry.tickets[ticket.id].path)


def test_file_is_kept_while_waiting_and_removed_after_finish(server):
    """A file in waiting_for_backend stays until finish_upload, then goes."""
    ticket = server.ticket(backend_secret="s")
    finish_bytes(server, ticket)
    path = server.handover.calls[0][0].path
    server.handover.answer("wait")
    assert os.path.exists(path)
    server.office.finish_upload(ticket.id, "s")
    assert server.state(ticket.id) == "finished" and not os.path.exists(path)


def test_finish_upload_racing_the_wait_answer_finishes(server):
    """finish_upload arriving before the backend's own wait answer still ends in finished."""
    ticket = server.ticket()
    finish_bytes(server, ticket)
    server.office.finish_upload(ticket.id, "")
    server.handover.answer("wait")
    assert server.state(ticket.id) == "finished"


def test_finish_upload_is_idempotent(server):
    """A repeated finish_upload on a finished ticket answers ok and changes nothing."""
    ticket = server.ticket()
    finish_bytes(server, ticket)
    server.handover.answer("wait")
    server.office.finish_upload(ticket.id, "")
    again = server.office.finish_upload(ticket.id, "")
    assert again.called and not isinstance(again.result, Exception)


def test_failed_handover_keeps_the_file_and_tells_the_client(server):
    """When the handover fails the ticket is failed, the file stays, the client gets error 15."""
    ticket = server.ticket()
    conn = finish_bytes(server, ticket)
    conn.messages()
    path = server.handover.calls[0][0].path
    server.handover.calls[0][1].errback(IncomingError(ErrorCode.HANDOVER_FAILED, "backend gone"))
    assert server.state(ticket.id) == "failed" and os.path.exists(path)
    assert conn.messages()[-1]["code"] == ErrorCode.HANDOVER_FAILED


def test_restart_resumes_an_interrupted_handover(server):
    """A server started over the registry calls the backend again for a handing_over ticket."""
    ticket = server.ticket()
    finish_bytes(server, ticket)
    after = server.restarted()
    after.office.recover()
    assert after.handover.calls[0][0].id == ticket.id
    after.handover.answer("done")
    assert after.state(ticket.id) == "finished"


def test_restart_resumes_an_undelivered_cancel_notice(server):
    """A cancel whose callback never got through is delivered after a restart."""
    ticket = server.ticket()
    server.office.cancel_by_backend(ticket.id, "")
    after = server.restarted()
    after.office.recover()
    assert after.handover.calls[0][0].cancelled_by == "backend"
    after.handover.answer("ok")
    assert after.registry.tickets[ticket.id].backend_told
    assert not after.registry.tickets[ticket.id].needs_attention


def test_cancel_while_writes_are_in_flight_leaves_no_bytes(tmp_path):
    """A cancel that overtakes queued writes still leaves no partial file behind."""
    server = Server(tmp_path, threads=HeldThreads())
    ticket = server.ticket()
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": 30})
    server.threads.run()
    conn.send_bytes(b"q" * 30)
    conn.send({"type": "cancel"})
    server.threads.run()
    server.clock.advance(0)
    server.threads.run()
    assert server.state(ticket.id) == "cancelled"
    assert stored_bytes(server, ticket.id) == b""
    assert [t.cancelled_by for t, _ in server.handover.calls] == ["frontend"]


def test_cancel_after_the_last_byte_is_refused(server):
    """Once stored, a ticket cannot be cancelled: the file is on its way to the backend."""
    ticket = server.ticket()
    finish_bytes(server, ticket)
    error = failure_of(server.office.cancel_by_backend(ticket.id, ""))
    assert error.code is ErrorCode.WRONG_STATE


def test_abandoned_tickets_expire_and_the_backend_hears(server):
    """A ticket idle for ticket_lifetime expires, its bytes go, the backend gets cancelled=yes."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    conn.send_bytes(b"e" * 10)
    conn.lose()
    server.clock.advance(SMALL.ticket_lifetime - 10)
    server.office.expire_abandoned()
    assert server.state(ticket.id) == "uploading"
    server.clock.advance(20)
    server.office.expire_abandoned()
    assert server.state(ticket.id) == "expired"
    assert stored_bytes(server, ticket.id) == b""
    told = server.handover.calls[0][0]
    assert (told.cancel_reason, told.state) == ("expired", State.EXPIRED)


def test_connected_tickets_do_not_expire(server):
    """A ticket with a client connected right now never expires."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    conn.send({"type": "pause"})
    server.clock.advance(SMALL.ticket_lifetime * 2)
    server.office.expire_abandoned()
    assert server.state(ticket.id) == "paused"


def test_shutdown_closes_clients_with_a_retryable_error(server):
    """Stopping the server tells each client shutting_down (13) so it reconnects later."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    server.office.shut_down()
    assert conn.messages()[-1]["code"] == ErrorCode.SHUTTING_DOWN
    assert conn.close_code == 4013
    refused = failure_of(server.office.begin(ticket.id, Hello(100), object()))
    assert refused.code is ErrorCode.SHUTTING_DOWN


def test_status_after_restart_counts_the_partial_file(server):
    """upload_status after a restart reports the bytes in the partial file."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 100)
    conn.send_bytes(b"r" * 42)
    after = server.restarted()
    assert after.office.status(ticket.id, "").result["bytesReceived"] == 42


def test_cancel_racing_the_last_byte_has_one_outcome(tmp_path):
    """A cancel while the last bytes are being written wins: no handover, no file left."""
    server = Server(tmp_path, threads=HeldThreads())
    ticket = server.ticket()
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": 10})
    server.threads.run()
    conn.send_bytes(b"0123456789")
    cancelled = server.office.cancel_by_backend(ticket.id, "")
    server.threads.run()
    server.clock.advance(0)
    server.threads.run()
    assert cancelled.called and server.state(ticket.id) == "cancelled"
    assert [t.cancelled_by for t, _ in server.handover.calls] == ["backend"]
    assert not list((tmp_path / "complete").iterdir())
    assert not list((tmp_path / "partial").iterdir())


def test_cancel_once_the_file_is_being_stored_is_refused(server):
    """A cancel after the last byte was written, before stored was announced, is wrong_state."""
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, 3)
    conn.send_bytes(b"abc")
    error = failure_of(server.office.cancel_by_backend(ticket.id, ""))
    assert error.code is ErrorCode.WRONG_STATE
    server.clock.advance(0)
    assert server.state(ticket.id) == "handing_over"


# -- lifecycle events and metrics ---------------------------------------------------------------


@pytest.fixture
def watched(tmp_path):
    """A server whose office reports to metrics the test can read."""
    clock = clock_at()
    return Server(tmp_path, clock=clock, lifecycle=Lifecycle(Metrics(), clock))


def metric(server, name, **labels):
    found = server.lifecycle.metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def steps(events, ticket_id):
    return [e["event"] for e in events
            if "event" in e and e.get("ticket") == ticket_id[:8]]


def test_a_whole_upload_reports_each_step_once(watched):
    """created, connected, stored, handed_over and finished are each reported once, in order."""
    with capturedLogs() as events:
        ticket = watched.ticket(backend_secret="hush")
        conn = watched.connect()
        conn.hello(ticket, 5)
        watched.clock.advance(7)
        conn.send_bytes(b"hello")
        watched.clock.advance(0)
        watched.clock.advance(2)
        watched.handover.answer("done")
    assert steps(events, ticket.id) == ["created", "connected", "stored", "handed_over",
                                        "finished"]
    assert metric(watched, "incoming_uploads_total", outcome="finished") == 1
    assert metric(watched, "incoming_bytes_received_total") == 5
    assert metric(watched, "incoming_upload_seconds_sum") == 7
    assert metric(watched, "incoming_handover_seconds_sum") == 2
    for event in events:
        text = repr(event) + formatEvent(event)
        assert ticket.id not in text and "hush" not in text


def test_started_at_is_set_by_the_first_hello_only(watched):
    """A ticket's start time is its first hello's; a resume keeps it."""
    ticket = watched.ticket()
    conn = watched.connect()
    conn.hello(ticket, 100)
    first = watched.registry.tickets[ticket.id].started_at
    assert first == watched.clock.seconds()
    conn.lose()
    watched.clock.advance(5)
    watched.connect().hello(ticket, 100)
    assert watched.registry.tickets[ticket.id].started_at == first


def test_a_resume_is_reported_and_bytes_are_counted_once(watched):
    """A reconnect past offset 0 is 'resumed', and the bytes count adds up to the file's size."""
    ticket = watched.ticket()
    conn = watched.connect()
    conn.hello(ticket, 30)
    conn.send_bytes(b"a" * 10)
    conn.lose()
    with capturedLogs() as events:
        again = watched.connect()
        assert again.hello(ticket, 30)["offset"] == 10
        again.send_bytes(b"b" * 20)
        watched.clock.advance(0)
    assert steps(events, ticket.id)[:2] == ["resumed", "stored"]
    assert events[0]["offset"] == 10
    assert metric(watched, "incoming_bytes_received_total") == 30


def test_pause_is_reported_once_per_change(watched):
    """pause, a repeated pause and unpause give one paused and one unpaused event."""
    ticket = watched.ticket()
    conn = watched.connect()
    conn.hello(ticket, 100)
    conn.send_bytes(b"p" * 40)
    with capturedLogs() as events:
        conn.send({"type": "pause"})
        conn.send({"type": "pause"})
        conn.send({"type": "unpause"})
    assert steps(events, ticket.id) == ["paused", "unpaused"]
    assert events[0]["bytes"] == 40


def test_cancel_and_expiry_are_counted_by_outcome(watched):
    """A cancelled and an expired upload count once each, with the bytes they had."""
    cancelled, expired = watched.ticket(), watched.ticket()
    conn = watched.connect()
    conn.hello(cancelled, 100)
    conn.send_bytes(b"c" * 25)
    idle = watched.connect()
    idle.hello(expired, 100)
    idle.lose()
    with capturedLogs() as events:
        conn.send({"type": "cancel", "reason": "oops"})
        watched.clock.advance(SMALL.ticket_lifetime + 1)
        watched.office.expire_abandoned()
    [cancel] = [e for e in events if e.get("event") == "cancelled"]
    assert (cancel["by"], cancel["bytes"], cancel["reason"]) == ("frontend", 25, "oops")
    assert steps(events, expired.id) == ["expired"]
    assert metric(watched, "incoming_uploads_total", outcome="cancelled") == 1
    assert metric(watched, "incoming_uploads_total", outcome="expired") == 1


def test_a_failed_handover_is_reported_and_counted(watched):
    """A handover that fails reports 'failed' with the reason and counts as failed."""
    ticket = watched.ticket()
    finish_bytes(watched, ticket)
    with capturedLogs() as events:
        watched.handover.calls[0][1].errback(IncomingError(ErrorCode.HANDOVER_FAILED, "gone"))
    [failed] = [e for e in events if e.get("event") == "failed"]
    assert failed["reason"] == "gone" and failed["ticket"] == ticket.id[:8]
    assert metric(watched, "incoming_uploads_total", outcome="failed") == 1
    assert all(ticket.id not in formatEvent(e) for e in events)


def test_refused_hellos_are_reported_with_the_error(watched):
    """A hello for an unknown or a closed ticket is reported as refused, named by its error."""
    done = watched.ticket()
    watched.office.cancel_by_backend(done.id, "")
    with capturedLogs() as events:
        watched.connect().hello("unknownunknownunknownunknown1234", 10)
        watched.connect().hello(done, 10)
    refused = [(e["ticket"], e["error"]) for e in events if e.get("event") == "refused"]
    assert refused == [("unknownu", "unknown_ticket"), (done.id[:8], "ticket_closed")]
    assert metric(watched, "incoming_refusals_total", error="ticket_closed") == 1

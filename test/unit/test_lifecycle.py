"""Lifecycle events: one structured log event and the matching metrics per step of a ticket."""

from __future__ import annotations

import pytest
from twisted.logger import LogLevel, capturedLogs, formatEvent

from incoming.errors import ErrorCode, IncomingError
from incoming.lifecycle import Lifecycle, one_line, short_id
from incoming.metrics import Metrics
from incoming.tickets import State, Ticket
from test.support.doubles import clock_at

FULL_ID = "AbCdEfGh0123456789-_ijklmnopqrstu"
SECRET = "backend-secret-never-logged"


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


@pytest.fixture
def lifecycle() -> Lifecycle:
    return Lifecycle(Metrics(), clock_at(5000.0))


def ticket(**changes: object) -> Ticket:
    base = dict(id=FULL_ID, signal_finish_url="http://backend.test/x", backend_secret=SECRET,
                size=1000, bytes_received=1000, created_at=1000.0, started_at=1100.0,
                stored_at=1400.0, updated_at=1400.0)
    base.update(changes)
    return Ticket(**base)  # type: ignore[arg-type]


def only_event(events: list[dict]) -> dict:
    assert len(events) == 1, events
    return events[0]


def assert_no_secrets(events: list[dict]) -> None:
    for event in events:
        text = repr(event) + formatEvent(event)
        assert FULL_ID not in text and SECRET not in text


def test_short_id_keeps_eight_safe_characters():
    """A ticket ID is cut to eight characters, and characters unfit for a log line are dropped."""
    assert short_id(FULL_ID) == "AbCdEfGh"
    assert short_id("ab\ncd\x1b[31m") == "abcd3"


def test_one_line_removes_line_breaks_and_cuts():
    """Text from outside becomes one line of at most the limit."""
    assert one_line("a\nb\rc") == "a b c"
    assert len(one_line("x" * 500)) == 200


def test_created_logs_the_short_id_and_event_name(lifecycle):
    """created is one info event with event=created and the eight-character ticket."""
    with capturedLogs() as events:
        lifecycle.created(ticket(state=State.CREATED))
    event = only_event(events)
    assert (event["event"], event["ticket"]) == ("created", "AbCdEfGh")
    assert event["log_level"] is LogLevel.info
    assert event["log_namespace"].startswith("incoming.lifecycle")
    assert formatEvent(event) == "ticket AbCdEfGh created"
    assert_no_secrets(events)


def test_connected_at_zero_is_connected_and_later_is_resumed(lifecycle):
    """A hello welcomed at offset 0 is 'connected'; at an offset past 0 it is 'resumed'."""
    with capturedLogs() as events:
        lifecycle.connected(ticket(state=State.UPLOADING), 0)
        lifecycle.connected(ticket(state=State.UPLOADING), 300)
        lifecycle.connected(ticket(state=State.WAITING_FOR_BACKEND), 1000)
    assert [e["event"] for e in events] == ["connected", "resumed", "connected"]
    assert formatEvent(events[1]) == "ticket AbCdEfGh resumed at offset 300 of 1000 bytes"
    assert events[2]["state"] == "waiting_for_backend"


def test_pause_and_unpause_carry_the_bytes_so_far(lifecycle):
    """paused and unpaused are named by the new state and carry the bytes received so far."""
    with capturedLogs() as events:
        lifecycle.paused(ticket(state=State.PAUSED), 400)
        lifecycle.paused(ticket(state=State.UPLOADING), 400)
    assert [(e["event"], e["bytes"]) for e in events] == [("paused", 400), ("unpaused", 400)]


def test_received_counts_bytes_without_logging(lifecycle):
    """Acknowledged bytes are counted, and no event is logged for them."""
    with capturedLogs() as events:
        lifecycle.received(4096)
        lifecycle.received(0)
        lifecycle.received(100)
    assert events == []
    assert value(lifecycle.metrics, "incoming_bytes_received_total") == 4196


def test_stored_observes_the_upload_time_from_the_first_hello(lifecycle):
    """stored logs size and seconds since the first hello, and feeds the upload histogram."""
    with capturedLogs() as events:
        lifecycle.stored(ticket(state=State.STORED))
    event = only_event(events)
    assert (event["event"], event["size"], event["seconds"]) == ("stored", 1000, 300.0)
    assert formatEvent(event) == "ticket AbCdEfGh stored: 1000 bytes in 300.0 s"
    assert value(lifecycle.metrics, "incoming_upload_seconds_count") == 1
    assert value(lifecycle.metrics, "incoming_upload_seconds_sum") == 300.0


def test_stored_without_a_start_time_observes_nothing(lifecycle):
    """A ticket recorded before started_at existed is logged, but no duration is made up."""
    with capturedLogs() as events:
        lifecycle.stored(ticket(state=State.STORED, started_at=0.0))
    assert "seconds" not in only_event(events)
    assert value(lifecycle.metrics, "incoming_upload_seconds_count") == 0


@pytest.mark.parametrize("result", ["accepted", "refused", "error", "timeout"])
def test_attempted_counts_callbacks_by_result(lifecycle, result):
    """Each handover attempt is one event and one count under its result."""
    with capturedLogs() as events:
        lifecycle.attempted(ticket(state=State.HANDING_OVER), 2, result, "HTTP 500", 0.25)
    event = only_event(events)
    assert (event["event"], event["attempt"], event["result"]) == ("handover_attempt", 2, result)
    assert value(lifecycle.metrics, "incoming_callbacks_total", result=result) == 1
    expected = LogLevel.info if result == "accepted" else LogLevel.warn
    assert event["log_level"] is expected
    assert formatEvent(event).startswith(f"ticket AbCdEfGh handover attempt 2: {result} in 0.25 s")
    assert_no_secrets(events)


def test_handed_over_observes_the_time_since_stored(lifecycle):
    """The handover histogram counts from stored to the backend's acceptance."""
    with capturedLogs() as events:
        lifecycle.handed_over(ticket(state=State.HANDING_OVER, stored_at=4990.0), "wait")
    event = only_event(events)
    assert (event["event"], event["answer"], event["seconds"]) == ("handed_over", "wait", 10.0)
    assert value(lifecycle.metrics, "incoming_handover_seconds_count") == 1
    assert value(lifecycle.metrics, "incoming_handover_seconds_bucket", le="10.0") == 1
    assert value(lifecycle.metrics, "incoming_handover_seconds_bucket", le="5.0") == 0


def test_each_ending_counts_under_its_outcome(lifecycle):
    """finished, cancelled, expired and failed each count once under their own outcome."""
    with capturedLogs() as events:
        lifecycle.finished(ticket(state=State.FINISHED, updated_at=1500.0))
        lifecycle.abandoned(ticket(state=State.CANCELLED, cancelled_by="frontend",
                                   cancel_reason="changed\nmy mind"), 300)
        lifecycle.abandoned(ticket(state=State.EXPIRED, cancelled_by="server",
                                   cancel_reason="expired"), 10)
        lifecycle.failed(ticket(state=State.FAILED, failure="the backend did not accept"))
    assert [e["event"] for e in events] == ["finished", "cancelled", "expired", "failed"]
    for outcome in ("finished", "cancelled", "expired", "failed"):
        assert value(lifecycle.metrics, "incoming_uploads_total", outcome=outcome) == 1
    assert formatEvent(events[0]) == (
        "ticket AbCdEfGh finished: 1000 bytes, 500.0 s after it was created")
    assert formatEvent(events[1]) == (
        "ticket AbCdEfGh cancelled by frontend at 300 bytes: changed my mind")
    assert events[3]["log_level"] is LogLevel.warn
    assert_no_secrets(events)


def test_refused_names_the_error_and_counts_it(lifecycle):
    """A refused hello is logged with the error's name and counted by it."""
    with capturedLogs() as events:
        lifecycle.refused(FULL_ID, IncomingError(ErrorCode.TICKET_CLOSED, "ticket is finished"))
    event = only_event(events)
    assert (event["event"], event["error"], event["ticket"]) == ("refused", "ticket_closed",
                                                                 "AbCdEfGh")
    assert value(lifecycle.metrics, "incoming_refusals_total", error="ticket_closed") == 1
    assert_no_secrets(events)

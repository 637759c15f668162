"""The handover callback: form values, done/wait, retries with backoff, timeouts."""

from __future__ import annotations

import random
from urllib.parse import parse_qs

import pytest
from treq.testing import StubTreq
from twisted.internet.defer import CancelledError, Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from twisted.logger import capturedLogs, formatEvent

from incoming import webhooks
from incoming.errors import ErrorCode, IncomingError
from incoming.handover import (
    BackendAnswer,
    MAX_ANSWER,
    BackendRefused,
    Handover,
    RetryPolicy,
    _LimitedReader,
    callback_form,
)
from incoming.tickets import State, Ticket
from test.support.doubles import clock_at

POLICY = RetryPolicy(attempt_timeout=10.0, total_timeout=300.0, max_delay=60.0)


class Backend(Resource):
    """Answers each callback from a script of (status, body) pairs; None means never answer."""

    isLeaf = True

    def __init__(self, script):
        super().__init__()
        self.script = list(script)
        self.forms = []
        self.unanswered = []

    def render_POST(self, request):
        self.forms.append({k.decode(): v[0].decode() for k, v in request.args.items()})
        step = self.script.pop(0) if self.script else (200, "done")
        if step is None:
            self.unanswered.append(request)
            return NOT_DONE_YET
        status, body = step
        request.setResponseCode(status)
        return body.encode()


def stored_ticket(**changes):
    fields = dict(id="T1", signal_finish_url="http://backend.test/cb", backend_secret="sec",
                  state=State.HANDING_OVER, size=5, filename_from_browser="cat.jpg",
                  path="/srv/complete/T1", sha256="ab" * 32)
    fields.update(changes)
    return Ticket(**fields)


def make(script, policy=POLICY):
    backend = Backend(script)
    clock = clock_at()
    stub = StubTreq(backend)
    return Handover(stub, clock, policy, random.Random(1)), backend, clock, stub


def result_of(d: Deferred):
    """What the delivery fired with so far: the answer's state (done, wait, ok), or a failure."""
    results = []
    d.addBoth(lambda r: results.append(r.state if isinstance(r, BackendAnswer) else r))
    return results


def run(clock, stub, seconds, step=0.5):
    """Let time pass, flushing the in-memory HTTP exchanges at every step."""
    for _ in range(int(seconds / step)):
        stub.flush()
        clock.advance(step)
    stub.flush()


def test_form_carries_every_documented_value():
    """The callback form has exactly the values docs/api.rst lists."""
    form = dict(callback_form(stored_ticket()))
    assert form == {"id": "T1", "filename": "/srv/complete/T1", "filenameFromBrowser": "cat.jpg",
                    "size": "5", "sha256": "ab" * 32, "cancelled": "no", "cancelReason": "",
                    "backendSecret": "sec"}


def test_cancel_form_says_cancelled_with_reason_and_no_file():
    """A cancel callback says cancelled=yes with the reason and names no file."""
    form = dict(callback_form(stored_ticket(cancelled_by="frontend", cancel_reason="oops")))
    assert (form["cancelled"], form["cancelReason"], form["filename"]) == ("yes", "oops", "")


@pytest.mark.parametrize("body, answer", [("done", "done"), ("wait\n", "wait"), (" DONE ", "done")])
def test_done_and_wait_are_accepted(body, answer):
    """done or wait (any case, surrounding space) ends the handover on the first attempt."""
    handover, backend, clock, stub = make([(200, body)])
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds()))
    stub.flush()
    assert got == [answer]
    assert backend.forms[0]["id"] == "T1"


def test_errors_and_odd_answers_are_retried_with_growing_delays():
    """500s and bodies other than done/wait are retried after ~1 s, ~2 s, ~4 s until accepted."""
    handover, backend, clock, stub = make([(500, "oops"), (200, "maybe"), (503, ""), (200, "done")])
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds()))
    stub.flush()
    assert len(backend.forms) == 1
    run(clock, stub, 1.3)
    assert len(backend.forms) == 2
    run(clock, stub, 2.5)
    assert len(backend.forms) == 3 and got == []
    run(clock, stub, 5.0)
    assert got == ["done"] and len(backend.forms) == 4


def test_a_silent_backend_times_out_and_is_retried():
    """An attempt with no answer within attempt_timeout counts as failed and is retried."""
    handover, backend, clock, stub = make([None, (200, "done")])
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds()))
    run(clock, stub, POLICY.attempt_timeout - 1)
    assert got == [] and len(backend.forms) == 1
    run(clock, stub, 3)
    assert got == ["done"] and len(backend.forms) == 2


def test_delay_is_capped_by_max_delay():
    """The backoff doubles up to max_delay and no further (jitter ±20 %)."""
    rng = random.Random(5)
    delays = [POLICY.delay(n, rng) for n in range(1, 12)]
    assert 0.8 <= delays[0] <= 1.2
    assert all(d <= POLICY.max_delay * 1.2 for d in delays)
    assert delays[-1] >= POLICY.max_delay * 0.8


def test_gives_up_at_the_deadline_with_handover_failed():
    """A backend that never accepts makes the handover fail with code 15 at the deadline."""
    policy = RetryPolicy(attempt_timeout=2.0, total_timeout=30.0, max_delay=4.0)
    handover, backend, clock, stub = make([(500, "")] * 100, policy)
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds()))
    run(clock, stub, 29)
    assert got == []
    run(clock, stub, 2)
    assert isinstance(got[0].value, IncomingError)
    assert got[0].value.code is ErrorCode.HANDOVER_FAILED
    assert "HTTP 500" in got[0].value.message


def test_deadline_counts_from_since():
    """A handover resumed after a restart keeps the deadline of when the file was stored."""
    policy = RetryPolicy(attempt_timeout=2.0, total_timeout=30.0, max_delay=4.0)
    handover, backend, clock, stub = make([(500, "")] * 100, policy)
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds() - 29))
    run(clock, stub, 3)
    assert got and got[0].value.code is ErrorCode.HANDOVER_FAILED


def test_a_deadline_that_passed_while_stopped_still_gets_one_attempt():
    """A restart after the whole handover timeout still calls the backend once: an outage of
    ours must not leave the backend untold. That attempt failing ends the handover."""
    policy = RetryPolicy(attempt_timeout=2.0, total_timeout=30.0, max_delay=4.0)
    handover, backend, clock, stub = make([(200, "done")], policy)
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds() - 3600))
    stub.flush()
    assert got == ["done"] and len(backend.forms) == 1
    handover, backend, clock, stub = make([(500, "")] * 10, policy)
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds() - 3600))
    run(clock, stub, 10)
    assert len(backend.forms) == 1
    assert got[0].value.code is ErrorCode.HANDOVER_FAILED and "HTTP 500" in got[0].value.message


def test_the_late_attempt_has_the_whole_attempt_timeout():
    """The one attempt past the deadline waits attempt_timeout for its answer, like any other."""
    policy = RetryPolicy(attempt_timeout=2.0, total_timeout=30.0, max_delay=4.0)
    handover, backend, clock, stub = make([None], policy)
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds() - 3600))
    run(clock, stub, 1.5)
    [request] = backend.unanswered
    request.write(b"done")
    request.finish()
    stub.flush()
    assert got == ["done"]


def test_cancel_callback_accepts_any_2xx():
    """For a cancel the body does not matter; a 204 is enough."""
    handover, backend, clock, stub = make([(204, "")])
    got = result_of(handover.deliver(stored_ticket(cancelled_by="backend"), since=clock.seconds()))
    stub.flush()
    assert got == ["ok"]
    assert parse_qs("cancelled=yes")["cancelled"] == [backend.forms[0]["cancelled"]]


def test_cancelling_stops_the_retries():
    """Cancelling the delivery (server shutdown) stops further attempts."""
    handover, backend, clock, stub = make([(500, "")] * 10)
    delivery = handover.deliver(stored_ticket(), since=clock.seconds())
    result_of(delivery)
    stub.flush()
    delivery.cancel()
    run(clock, stub, 60)
    assert len(backend.forms) == 1


# -- signed, bounded, observed callbacks -------------------------------------------------------

KEYS = (b"a" * 32, b"b" * 24)


class Recorder(Resource):
    """Records path, headers and raw body of each callback; answers from a script of
    (status, body, headers) triples, then done."""

    isLeaf = True

    def __init__(self, script=()):
        super().__init__()
        self.script = list(script)
        self.requests = []

    def render_POST(self, request):
        request.content.seek(0)
        headers = dict(request.requestHeaders.getAllRawHeaders())
        self.requests.append((request.path.decode(), headers, request.content.read()))
        status, body, headers = self.script.pop(0) if self.script else (200, b"done", {})
        request.setResponseCode(status)
        for name, value in headers.items():
            request.setHeader(name, value)
        return body


class Observer:
    def __init__(self, fail=False):
        self.seen = []
        self.fail = fail

    def attempted(self, ticket, attempt, result, detail, seconds):
        self.seen.append((ticket.id, attempt, result, detail, seconds))
        if self.fail:
            raise RuntimeError("observer broke")


def signed(script=(), observer=None, keys=KEYS, policy=POLICY):
    backend = Recorder(script)
    clock = clock_at()
    stub = StubTreq(backend)
    handover = Handover(stub, clock, policy, random.Random(1), observer=observer,
                        signing_keys=keys)
    return handover, backend, clock, stub


def header(headers, name):
    [value] = headers[name.encode()] if isinstance(next(iter(headers)), bytes) else headers[name]
    return value.decode() if isinstance(value, bytes) else value


def test_each_attempt_is_signed_over_the_exact_body_with_every_key():
    """The body sent is the urlencoded form; webhook-signature has one v1 HMAC per key over it."""
    handover, backend, clock, stub = signed()
    result_of(handover.deliver(stored_ticket(), since=clock.seconds()))
    stub.flush()
    [(_, headers, raw)] = backend.requests
    assert raw == webhooks.encode_form(callback_form(stored_ticket()))
    msg_id, stamp = header(headers, "Webhook-Id"), header(headers, "Webhook-Timestamp")
    assert stamp == str(int(clock.seconds()))
    assert header(headers, "Webhook-Signature").split(" ") == [
        webhooks.signature(key, msg_id, int(stamp), raw) for key in KEYS]
    assert header(headers, "Content-Type") == "application/x-www-form-urlencoded"


def test_retries_keep_the_id_and_sign_with_a_new_timestamp():
    """webhook-id is the same on every attempt; webhook-timestamp follows the clock."""
    handover, backend, clock, stub = signed([(500, b"", {})] * 2)
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds()))
    run(clock, stub, 5)
    assert got == ["done"] and len(backend.requests) == 3
    ids = {header(h, "Webhook-Id") for _, h, _ in backend.requests}
    stamps = [int(header(h, "Webhook-Timestamp")) for _, h, _ in backend.requests]
    assert len(ids) == 1 and stamps == sorted(stamps) and stamps[0] < stamps[-1]


def test_without_keys_there_is_no_signature_header():
    """No signing key: the id and timestamp headers go out, the signature header does not."""
    handover, backend, clock, stub = signed(keys=())
    result_of(handover.deliver(stored_ticket(), since=clock.seconds()))
    stub.flush()
    [(_, headers, _)] = backend.requests
    assert b"Webhook-Signature" not in headers and b"Webhook-Id" in headers


def test_a_redirect_is_not_followed_and_counts_as_a_refusal():
    """A 3xx answer is retried like any refusal; its Location is never requested."""
    moved = (307, b"", {b"Location": b"http://backend.test/elsewhere"})
    handover, backend, clock, stub = signed([moved, (302, b"done", {b"Location": b"/x"})])
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds()))
    run(clock, stub, 5)
    assert got == ["done"]
    assert [path for path, _, _ in backend.requests] == ["/cb"] * 3


@pytest.mark.parametrize("size, accepted", [(MAX_ANSWER, True), (MAX_ANSWER + 1, False)])
def test_an_answer_longer_than_64_kib_is_a_refusal(size, accepted):
    """done padded to 64 KiB is taken; one byte more is refused unread, and retried."""
    answer = b"done" + b" " * (size - 4)
    observer = Observer()
    handover, backend, clock, stub = signed([(200, answer, {})], observer=observer)
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds()))
    stub.flush()
    if accepted:
        assert got == ["done"]
    else:
        assert got == [] and observer.seen[0][2:4] == ("refused", "answer longer than 64 KiB")


class FakeBodyTransport:
    stopped = False

    def stopProducing(self):
        self.stopped = True


def test_reading_stops_at_the_limit_without_a_declared_length():
    """A chunked answer is read up to the limit; past it reading stops and nothing is kept."""
    from twisted.web.iweb import UNKNOWN_LENGTH

    reader = _LimitedReader(10, UNKNOWN_LENGTH)
    transport = FakeBodyTransport()
    reader.makeConnection(transport)
    reader.dataReceived(b"done      ")
    assert not reader.done.called and not transport.stopped
    reader.dataReceived(b"x")
    assert transport.stopped and reader._parts == []
    reader.dataReceived(b"more")
    failure = result_of(reader.done)[0]
    assert failure.check(BackendRefused)


def test_the_observer_hears_every_attempt():
    """Refused, timed-out and accepted attempts are each reported with their number and time."""
    observer = Observer()
    handover, backend, clock, stub = make([(500, "x"), None, (200, "wait")])
    handover._observer = observer
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds()))
    run(clock, stub, 20)
    assert got == ["wait"]
    assert [(n, result) for _, n, result, _, _ in observer.seen] == [
        (1, "refused"), (2, "timeout"), (3, "accepted")]
    assert observer.seen[0][3] == "HTTP 500" and observer.seen[2][3] == "wait"
    assert observer.seen[1][4] == pytest.approx(POLICY.attempt_timeout, abs=0.6)


def test_a_connection_error_is_reported_as_error_and_a_failing_observer_is_harmless():
    """An attempt with no answer at all is an error; an observer that raises changes nothing."""
    observer = Observer(fail=True)
    http = FailingHTTP()
    clock = clock_at()
    handover = Handover(http, clock, POLICY, random.Random(1), observer=observer)
    got = result_of(handover.deliver(stored_ticket(), since=clock.seconds()))
    clock.advance(1.5)
    assert observer.seen[0][2:4] == ("error", "ConnectionRefusedError: Connection was refused "
                                              "by other side: nobody home.")
    assert len(observer.seen) == 2 and got == []


class FailingHTTP:
    def post(self, url, data=None, **kwargs):
        from twisted.internet.defer import fail
        from twisted.internet.error import ConnectionRefusedError

        return fail(ConnectionRefusedError("nobody home"))


def test_log_lines_show_only_eight_characters_of_the_ticket_id():
    """A failed attempt is logged with the ticket ID's first 8 characters, never the secret."""
    ticket = stored_ticket(id="ABCDEFGH" + "z" * 24, backend_secret="hush")
    handover, backend, clock, stub = signed([(500, b"", {})])
    with capturedLogs() as events:
        result_of(handover.deliver(ticket, since=clock.seconds()))
        stub.flush()
    text = " ".join(formatEvent(e) for e in events)
    assert "ABCDEFGH" in text and ticket.id not in text and "hush" not in text


def test_a_shutdown_during_an_attempt_is_not_reported_as_an_attempt():
    """Cancelling the delivery while the backend has not answered stops it without a report."""
    observer = Observer()
    handover, backend, clock, stub = make([None])
    handover._observer = observer
    delivery = handover.deliver(stored_ticket(), since=clock.seconds())
    got = result_of(delivery)
    stub.flush()
    delivery.cancel()
    run(clock, stub, 30)
    assert observer.seen == [] and len(backend.forms) == 1 and got[0].check(CancelledError)


class TricklingResponse:
    """Headers came, 200; the body starts and never ends."""

    code = 200
    length = None

    def __init__(self, transport: FakeBodyTransport) -> None:
        self._transport = transport

    def deliverBody(self, protocol) -> None:
        protocol.makeConnection(self._transport)
        protocol.dataReceived(b"do")


class TricklingHTTP:
    def __init__(self) -> None:
        self.transports: list[FakeBodyTransport] = []

    def post(self, url, data=None, **kwargs):
        from twisted.internet.defer import succeed

        self.transports.append(FakeBodyTransport())
        return succeed(TricklingResponse(self.transports[-1]))


def test_an_answer_still_arriving_at_the_attempt_timeout_has_its_connection_dropped() -> None:
    """When an attempt times out while the answer's body is still coming, its connection is
    dropped instead of being left open for the backend to hold."""
    http = TricklingHTTP()
    clock = clock_at()
    handover = Handover(http, clock, POLICY, random.Random(1))
    result_of(handover.deliver(stored_ticket(), since=clock.seconds()))
    clock.advance(POLICY.attempt_timeout + 0.1)
    assert http.transports and http.transports[0].stopped

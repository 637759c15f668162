"""The handover callback: form values, done/wait, retries with backoff, timeouts."""

from __future__ import annotations

import random
from urllib.parse import parse_qs

import pytest
from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from incoming.errors import ErrorCode, IncomingError
from incoming.handover import Handover, RetryPolicy, callback_form
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
    results = []
    d.addBoth(results.append)
    return results


def run(clock, stub, seconds, step=0.5):
    """Let time pass, flushing the in-memory HTTP exchanges at every step."""
    for _ in range(int(seconds / step)):
        stub.flush()
        clock.advance(step)
    stub.flush()


def test_form_carries_every_documented_value():
    """The callback form has exactly the values of DESIGN.md §3."""
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

"""Requests that race each other: each upload still has exactly one outcome."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from test.support.backend import WAIT, BackendAPI, FakeBackend
from test.support.server import IncomingServer, wait_until
from test.integration.conftest import FAST_OPTIONS
from test.integration.wsupload import Connection, make_data, sha256

ROUNDS = 12
SETTLE = 0.2
"""Seconds to watch for a second, contradicting callback after the first one arrived."""


@pytest.mark.time_limit(90)
@pytest.mark.parametrize("by", ["frontend", "backend"])
def test_cancel_racing_the_last_byte_has_one_outcome(
        by: str, make_server: Callable[..., IncomingServer], backend: FakeBackend) -> None:
    """A cancel arriving with the last bytes wins (cancelled, bytes gone) or loses (finished), never
    both."""
    server = make_server(**FAST_OPTIONS)
    server.allow_log_errors = True  # checked below, with a better message
    api = BackendAPI(server.api_url)
    seen: dict[str, int] = {}
    for n in range(ROUNDS):
        data = make_data(70_000, seed=n)
        ticket = api.new_upload(backend.callback_url())
        conn = Connection(server)
        conn.hello(ticket, len(data))
        if by == "frontend":
            conn.ws.send_binary(data)
            conn.send_json({"type": "cancel", "reason": "race"})
        else:
            conn.ws.send_binary(data)
            api.call("cancel_upload", {"id": ticket})  # 200 or 409, depending on who won
        conn.until_closed()
        conn.close()
        first = backend.wait_for_callbacks(ticket)[0]
        time.sleep(SETTLE)  # a contradicting second callback would come right after the first
        callbacks = backend.callbacks_for(ticket)
        state = wait_until(lambda t=ticket: _terminal(api.upload_status(t)["state"]), 5,
                           message="a final state")
        outcome = "cancelled" if conn.of_type("cancelled") else "finished"
        seen[outcome] = seen.get(outcome, 0) + 1
        where = f"round {n}: client heard {conn.states} {conn.of_type('cancelled')}, " \
                f"callbacks {[c.form['cancelled'] for c in callbacks]}, state {state}"
        assert len(callbacks) == 1, f"told the backend twice; {where}"
        if outcome == "cancelled":
            assert first.form["cancelled"] == "yes", where
            assert state == "cancelled", where
            assert not server.partial_path(ticket).exists(), where
            assert not server.complete_path(ticket).exists(), f"cancelled bytes left; {where}"
        else:
            assert "finished" in conn.states, where
            assert first.form["cancelled"] == "no", where
            assert first.form["sha256"] == sha256(data)
            assert state == "finished", where
        errors = server.errors_in_log()
        assert not errors, f"{where}; the server logged:\n" + "\n".join(errors[:5])


def _terminal(state: str) -> str:
    return state if state in ("finished", "cancelled", "failed", "expired") else ""


def test_finish_upload_before_the_wait_answer_arrives(server: IncomingServer, api: BackendAPI,
                                                      backend: FakeBackend) -> None:
    """finish_upload sent while the backend's own "wait" is still on its way finishes the ticket."""
    data = make_data(50_000, seed=90)
    ticket = api.new_upload(backend.callback_url())
    gate = backend.hold(ticket, then=WAIT)
    conn = Connection(server)
    conn.hello(ticket, len(data))
    conn.send_data(data)
    backend.wait_for_callbacks(ticket)
    assert api.finish_upload(ticket) == "ok"  # the backend is still answering the callback
    gate.set()
    conn.wait_for("state", state="finished")
    assert conn.until_closed() == 1000
    assert "waiting_for_backend" not in conn.states
    assert api.upload_status(ticket)["state"] == "finished"
    assert len(backend.callbacks_for(ticket)) == 1


def test_cancel_after_stored_is_ignored(server: IncomingServer, api: BackendAPI,
                                        backend: FakeBackend) -> None:
    """Once every byte is stored a client's cancel comes too late: it is ignored and the client
    hears finished; the backend's cancel_upload gets 409."""
    data = make_data(50_000, seed=91)
    ticket = api.new_upload(backend.callback_url())
    gate = backend.hold(ticket)
    conn = Connection(server)
    conn.hello(ticket, len(data))
    conn.send_data(data)
    conn.wait_for("state", state="handing_over")
    conn.send_json({"type": "cancel", "reason": "too late"})
    assert api.call("cancel_upload", {"id": ticket}).status == 409
    gate.set()
    conn.wait_for("state", state="finished")
    assert not conn.of_type("error") and not conn.of_type("cancelled")
    wait_until(lambda: api.upload_status(ticket)["state"] == "finished", 5, message="finished")
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["cancelled"] == "no"

"""The handover callback (docs/api.rst): retried until the backend accepts, or until the
deadline."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import pytest

from test.support.backend import DONE, DROP, BackendAPI, FakeBackend, body, delayed, http_error
from test.support.server import IncomingServer
from test.integration.conftest import FAST_OPTIONS
from test.integration.wsupload import Connection, make_data, sha256, upload


@pytest.fixture(scope="module")
def server_options() -> dict[str, Any]:
    # An attempt that takes longer than 1 s fails; retries come every ~200 ms.
    return {"handover_attempt_timeout": "1s", "handover_timeout": "20s"}


def test_retried_after_two_http_500s(server: IncomingServer, api: BackendAPI,
                                     backend: FakeBackend) -> None:
    """A backend that answers 500 twice and then done gets the file: the client hears finished."""
    data = make_data(300_000, seed=11)
    ticket = api.new_upload(backend.callback_url())
    backend.answer(ticket, 500, 500, DONE)
    conn = upload(server, ticket, data)
    assert conn.close_code == 1000
    assert conn.states == ["stored", "handing_over", "finished"]
    calls = backend.callbacks_for(ticket)
    statuses = [c.answer.status for c in calls]
    # exactly [500, 500, 200] unless the machine is so slow that a "done" missed the attempt timeout
    assert statuses[:3] == [500, 500, 200] and set(statuses[3:]) <= {200}, statuses
    assert all(c.form == calls[0].form for c in calls), "every attempt carries the same values"
    assert calls[0].form["sha256"] == sha256(data)
    assert all(c.file_existed for c in calls), "the file stays while the handover may succeed"
    assert api.upload_status(ticket)["state"] == "finished"


@pytest.mark.parametrize("first", [
    pytest.param(http_error(503, "busy"), id="http-503"),
    pytest.param(body("maybe"), id="neither-done-nor-wait"),
    pytest.param(body(""), id="empty-body"),
    pytest.param(DROP, id="connection-dropped"),
    pytest.param(delayed(2.5), id="slower-than-attempt-timeout"),
])
def test_retried_after_a_refusal(first: Any, server: IncomingServer, api: BackendAPI,
                                 backend: FakeBackend) -> None:
    """Any answer that is not done/wait in time (status, body, dropped, too slow) is retried."""
    data = make_data(100_000, seed=12)
    ticket = api.new_upload(backend.callback_url())
    backend.answer(ticket, first, DONE)
    conn = upload(server, ticket, data)
    assert conn.close_code == 1000 and conn.states[-1] == "finished", conn.messages
    calls = backend.wait_for_callbacks(ticket, count=2)
    assert calls[0].answer == first and calls[-1].answer == DONE
    assert api.upload_status(ticket)["state"] == "finished"


def test_backend_down_then_up(server: IncomingServer, api: BackendAPI) -> None:
    """While nothing listens at signalFinishURL the server retries; once the backend is up it
    finishes."""
    late = FakeBackend().start()
    late.stop()  # the port is known, nothing listens on it
    try:
        data = make_data(200_000, seed=13)
        ticket = api.new_upload(late.callback_url())
        conn = Connection(server)
        conn.hello(ticket, len(data))
        conn.send_data(data)
        conn.wait_for("state", state="handing_over")
        server.wait_for_log(rf"callback for ticket {re.escape(ticket[:8])}… failed \(attempt 2\)")
        conn.drain()
        assert "finished" not in conn.states and not conn.closed
        assert api.upload_status(ticket)["state"] == "handing_over"
        assert server.complete_path(ticket).exists()
        late.start()
        conn.wait_for("state", state="finished")
        assert conn.until_closed() == 1000
        [callback] = late.wait_for_callbacks(ticket)
        assert callback.form["sha256"] == sha256(data)
    finally:
        late.stop()


def test_handover_fails_after_the_handover_timeout(
        make_server: Callable[..., IncomingServer], backend: FakeBackend) -> None:
    """A backend that never accepts: at the handover timeout the ticket fails, error 15, the file
    stays."""
    server = make_server(**{**FAST_OPTIONS, "handover_timeout": "1500ms",
                            "handover_attempt_timeout": "300ms"})
    api = BackendAPI(server.api_url)
    data = make_data(150_000, seed=14)
    ticket = api.new_upload(backend.callback_url(), backend_secret="x")
    backend.answer(ticket, 500, "drop", "maybe", delayed(1.0))
    conn = Connection(server)
    conn.hello(ticket, len(data))
    conn.send_data(data)
    error = conn.expect_error(15)
    assert error.get("state") == "failed", error
    assert conn.states == ["stored", "handing_over"]
    assert len(backend.callbacks_for(ticket)) >= 2, "retried before giving up"
    status = api.upload_status(ticket, "x")
    assert status["state"] == "failed"
    assert status["failure"]
    path = status["filename"]
    assert path and os.path.isfile(path), "a failed handover keeps the stored file"
    with open(path, "rb") as f:
        assert sha256(f.read()) == sha256(data)
    # the ticket is closed now: the backend cannot finish it, a client cannot come back
    response = api.call("finish_upload", {"id": ticket, "backendSecret": "x"})
    assert response.status == 409
    again = Connection(server)
    assert again.hello(ticket, len(data))["code"] == 4
    assert again.until_closed() == 4004


def test_interrupted_handover_resumes_after_a_restart(
        make_server: Callable[..., IncomingServer], backend: FakeBackend) -> None:
    """A handover cut short by a restart is made again by the next process, and finishes once."""
    server = make_server(**FAST_OPTIONS)
    api = BackendAPI(server.api_url)
    data = make_data(120_000, seed=15)
    ticket = api.new_upload(backend.callback_url())
    backend.answer(ticket, 500)
    conn = Connection(server)
    conn.hello(ticket, len(data))
    conn.send_data(data)
    conn.wait_for("state", state="handing_over")
    backend.wait_for_callbacks(ticket, count=2)
    server.stop()
    assert conn.until_closed() in (4013, 1006, None), conn.messages

    server.start()
    api = BackendAPI(server.api_url)
    assert api.upload_status(ticket)["state"] == "handing_over"
    again = Connection(server)
    welcome = again.hello(ticket, len(data))
    assert welcome["type"] == "welcome", welcome
    assert welcome["offset"] == len(data) and welcome["state"] == "handing_over"
    backend.answer(ticket, DONE)
    again.wait_for("state", state="finished")
    assert again.until_closed() == 1000
    done = backend.wait_for_callbacks(ticket, where=lambda c: c.answer == DONE)
    assert len(done) == 1
    assert done[0].form["sha256"] == sha256(data)
    assert done[0].file_existed
    assert api.upload_status(ticket)["state"] == "finished"

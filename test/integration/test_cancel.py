"""Cancelling an upload, from the client and from the backend."""

from __future__ import annotations

import time
from collections.abc import Callable

from test.support.backend import BackendAPI, FakeBackend
from test.support.server import IncomingServer, wait_until
from test.integration.wsupload import Connection, make_data, upload


def _part_uploaded(server: IncomingServer, ticket: str, data: bytes, upto: int) -> Connection:
    conn = Connection(server)
    assert conn.hello(ticket, len(data), "to-cancel.bin")["type"] == "welcome"
    conn.send_data(data, upto=upto)
    conn.wait_for_ack(upto)
    assert server.partial_path(ticket).stat().st_size == upto
    return conn


def _assert_closed_ticket(server: IncomingServer, ticket: str, size: int) -> None:
    later = Connection(server)
    error = later.hello(ticket, size)
    assert error["type"] == "error" and error["code"] == 4, error
    assert later.until_closed() == 4004


def test_cancel_from_the_client(server: IncomingServer, api: BackendAPI,
                                backend: FakeBackend) -> None:
    """A cancel message: the client hears cancelled by frontend, the backend gets cancelled=yes,
    bytes go."""
    data = make_data(600_000, seed=21)
    ticket = api.new_upload(backend.callback_url(), backend_secret="c")
    conn = _part_uploaded(server, ticket, data, 250_000)
    conn.send_json({"type": "cancel", "reason": "changed my mind"})
    cancelled = conn.wait_for("cancelled")
    assert cancelled["by"] == "frontend"
    assert cancelled["reason"] == "changed my mind"
    assert conn.until_closed() == 1000

    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["cancelled"] == "yes"
    assert callback.form["cancelReason"] == "changed my mind"
    assert callback.form["id"] == ticket and callback.form["backendSecret"] == "c"
    assert callback.form["filename"] == "" and callback.form["sha256"] == ""
    assert callback.form["filenameFromBrowser"] == "to-cancel.bin"
    assert not server.partial_path(ticket).exists()
    assert not server.complete_path(ticket).exists()
    status = api.upload_status(ticket, "c")
    assert status["state"] == "cancelled"
    assert status["cancelledBy"] == "frontend"
    assert status["cancelReason"] == "changed my mind"
    _assert_closed_ticket(server, ticket, len(data))


def test_cancel_from_the_client_without_a_reason(server: IncomingServer, api: BackendAPI,
                                                 backend: FakeBackend) -> None:
    """A cancel without a reason gets a default one, and the backend is told it."""
    data = make_data(100_000, seed=22)
    ticket = api.new_upload(backend.callback_url())
    conn = _part_uploaded(server, ticket, data, 50_000)
    conn.send_json({"type": "cancel"})
    cancelled = conn.wait_for("cancelled")
    assert cancelled["by"] == "frontend" and cancelled["reason"]
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["cancelled"] == "yes" and callback.form["cancelReason"]


def test_cancel_from_the_backend_while_a_client_is_connected(
        server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """cancel_upload: the connected client hears cancelled by backend, the callback says
    cancelled=yes."""
    data = make_data(600_000, seed=23)
    ticket = api.new_upload(backend.callback_url(), backend_secret="b")
    conn = _part_uploaded(server, ticket, data, 300_000)
    assert api.cancel_upload(ticket, "b") == "ok"
    cancelled = conn.wait_for("cancelled")
    assert cancelled["by"] == "backend" and cancelled["reason"]
    assert conn.until_closed() == 1000

    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["cancelled"] == "yes"
    assert callback.form["cancelReason"] == cancelled["reason"]
    assert not server.partial_path(ticket).exists()
    status = api.upload_status(ticket, "b")
    assert status["state"] == "cancelled" and status["cancelledBy"] == "backend"
    _assert_closed_ticket(server, ticket, len(data))


def test_cancel_from_the_backend_while_no_client_is_connected(
        server: IncomingServer, api: BackendAPI, backend: FakeBackend) -> None:
    """cancel_upload after the client went away still removes its bytes and tells the backend."""
    data = make_data(200_000, seed=24)
    ticket = api.new_upload(backend.callback_url())
    conn = _part_uploaded(server, ticket, data, 100_000)
    conn.close()
    wait_until(lambda: api.upload_status(ticket)["bytesReceived"] == 100_000, 5,
               message="the bytes to be counted")
    assert api.cancel_upload(ticket) == "ok"
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["cancelled"] == "yes"
    assert not server.partial_path(ticket).exists()
    _assert_closed_ticket(server, ticket, len(data))


def test_cancel_of_a_finished_upload_is_refused(server: IncomingServer, api: BackendAPI,
                                                backend: FakeBackend) -> None:
    """A finished ticket cannot be cancelled: 409, and the backend hears nothing more."""
    data = make_data(10_000, seed=25)
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
    assert upload(server, ticket, data).states[-1] == "finished"
    response = api.call("cancel_upload", {"id": ticket})
    assert response.status == 409, response
    assert api.upload_status(ticket)["state"] == "finished"
    assert server.complete_path(ticket).exists()
    assert len(backend.callbacks_for(ticket)) == 1


def test_abandoned_upload_expires(make_server: Callable[..., IncomingServer],
                                  backend: FakeBackend) -> None:
    """A ticket idle for longer than --ticket-lifetime expires: bytes removed, backend told, hello
    gets 4."""
    server = make_server(ticket_lifetime="1s", handover_max_delay="200ms")
    api = BackendAPI(server.api_url)
    data = make_data(100_000, seed=26)
    started = api.new_upload(backend.callback_url())
    conn = _part_uploaded(server, started, data, 50_000)
    conn.close()
    untouched = api.new_upload(backend.callback_url())
    wait_until(lambda: api.upload_status(started)["bytesReceived"] == 50_000, 5,
               message="the bytes counted")
    idle_since = time.monotonic()
    # The janitor runs at start-up (and every 10 minutes): restart once both tickets are old enough.
    wait_until(lambda: time.monotonic() - idle_since > 1.5, 5, message="the tickets to grow old")
    server.restart()
    api = BackendAPI(server.api_url)
    for ticket in (started, untouched):
        [callback] = backend.wait_for_callbacks(ticket)
        assert callback.form["cancelled"] == "yes", callback.form
        assert callback.form["cancelReason"] == "expired"
        wait_until(lambda t=ticket: api.upload_status(t)["state"] == "expired", 5,
                   message="the ticket to expire")
        assert not server.partial_path(ticket).exists()
        _assert_closed_ticket(server, ticket, len(data))


def test_fresh_ticket_does_not_expire(make_server: Callable[..., IncomingServer],
                                      backend: FakeBackend) -> None:
    """A ticket younger than --ticket-lifetime survives the janitor's run at start-up."""
    server = make_server(ticket_lifetime="1h")
    api = BackendAPI(server.api_url)
    ticket = api.new_upload(backend.callback_url())
    server.restart()
    api = BackendAPI(server.api_url)
    assert api.upload_status(ticket)["state"] == "created"
    assert backend.callbacks_for(ticket) == []

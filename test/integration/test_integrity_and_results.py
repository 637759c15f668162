"""End-to-end integrity and the backend's result, against a real twistd."""

from __future__ import annotations

import json

from test.integration.wsupload import Connection, make_data, sha256
from test.support.backend import Answer, BackendAPI, FakeBackend
from test.support.server import IncomingServer


def _upload(server: IncomingServer, ticket: str, data: bytes, digest: str) -> Connection:
    conn = Connection(server)
    conn.ws.send_json({"type": "hello", "ticket": ticket, "size": len(data),
                       "integrity": "sha256"})
    welcome = conn.next()
    assert welcome["type"] == "welcome", welcome
    conn.welcome, conn.chunk_size, conn.window = welcome, welcome["chunkSize"], welcome["window"]
    conn.send_data(data)
    conn.ws.send_json({"type": "digest", "sha256": digest})
    conn.until_closed()
    conn.close()
    return conn


def test_a_matching_digest_and_a_json_answer_reach_the_client(server: IncomingServer,
                                                              api: BackendAPI,
                                                              backend: FakeBackend) -> None:
    """The client's digest matches: the file is handed over, the backend's JSON result comes
    back with "finished", and upload_status shows it."""
    data = make_data(300_000, seed=5)
    ticket = api.new_upload(backend.callback_url())
    backend.answer(ticket, Answer(body=json.dumps({"state": "done", "result": {"url": "/p/7"}}),
                                  headers=(("Content-Type", "application/json"),)))
    conn = _upload(server, ticket, data, sha256(data))
    assert conn.messages[-1] == {"type": "state", "state": "finished",
                                 "result": {"url": "/p/7"}}
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data) and callback.form["cancelled"] == "no"
    assert api.upload_status(ticket)["result"] == {"url": "/p/7"}


def test_a_digest_that_differs_cancels_and_the_backend_hears_why(server: IncomingServer,
                                                                 api: BackendAPI,
                                                                 backend: FakeBackend) -> None:
    """A client digest that is not the stored file's: error 20, no file handed over, the
    backend hears cancelled=yes with the reason, and no bytes are left."""
    data = make_data(200_000, seed=6)
    ticket = api.new_upload(backend.callback_url())
    conn = _upload(server, ticket, data, sha256(data + b"x"))
    error = [m for m in conn.messages if m["type"] == "error"]
    assert [e["code"] for e in error] == [20] and conn.close_code == 4020
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["cancelled"] == "yes" and "SHA-256" in callback.form["cancelReason"]
    assert not server.complete_path(ticket).exists()
    assert not server.partial_path(ticket).exists()

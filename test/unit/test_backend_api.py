"""The backend HTTP API in memory: parameters, answers, error statuses, JSON."""

from __future__ import annotations

import json

import pytest
import treq
from treq.testing import StubTreq
from twisted.internet.defer import fail
from twisted.logger import capturedLogs
from twisted.web.resource import Resource

from incoming.backend_api import BackendAPI
from test.support.harness import Server

API = "http://incoming.test/backend"


@pytest.fixture
def server(tmp_path):
    return Server(tmp_path)


@pytest.fixture
def http(server):
    root = Resource()
    root.putChild(b"backend", BackendAPI(server.office))
    return StubTreq(root)


def call(http, method, name, params=None, json_wanted=False, **kwargs):
    headers = {"Accept": "application/json"} if json_wanted else {}
    d = http.request(method, f"{API}/{name}", headers=headers, **({"data": params} if method ==
                     "POST" else {"params": params}), **kwargs)
    http.flush()
    response = d.result
    body = treq.text_content(response).result
    return response.code, body


def new(http, **params):
    params.setdefault("signalFinishURL", "http://app.test/done")
    return call(http, "POST", "new_upload", params)


def test_new_upload_returns_an_unguessable_ticket(http, server):
    """new_upload answers 200 with a URL-safe ID of at least 128 bits, saved with its options."""
    code, ticket_id = new(http, backendSecret="s", removeFileWhenFinished="false", maxSize="99")
    assert code == 200
    assert len(ticket_id) >= 22 and ticket_id.replace("-", "").replace("_", "").isalnum()
    ticket = server.registry.tickets[ticket_id]
    assert (ticket.backend_secret, ticket.remove_file_when_finished, ticket.max_size) == (
        "s", False, 99)
    assert new(http)[1] != ticket_id


def test_defaults_follow_version_0_1(http, server):
    """Without options: removeFileWhenFinished true, empty secret, destType file, no maxSize."""
    ticket = server.registry.tickets[new(http)[1]]
    assert (ticket.remove_file_when_finished, ticket.backend_secret, ticket.dest_type,
            ticket.max_size) == (True, "", "file", None)


def test_new_upload_answers_json_when_asked(http):
    """With Accept: application/json the answer is {"id": …}."""
    code, body = call(http, "POST", "new_upload", {"signalFinishURL": "https://a.test/x"},
                      json_wanted=True)
    assert code == 200 and set(json.loads(body)) == {"id"}


@pytest.mark.parametrize("params, needle", [
    ({}, "missing parameter signalFinishURL"),
    ({"signalFinishURL": "ftp://a.test/x"}, "signalFinishURL"),
    ({"signalFinishURL": "not a url"}, "signalFinishURL"),
    ({"signalFinishURL": "http://a.test/", "removeFileWhenFinished": "perhaps"},
     "removeFileWhenFinished"),
    ({"signalFinishURL": "http://a.test/", "maxSize": "-3"}, "maxSize"),
    ({"signalFinishURL": "http://a.test/", "maxSize": "lots"}, "maxSize"),
    ({"signalFinishURL": "http://a.test/", "destType": "s3"}, "destType"),
    ({"signalFinishURL": ["http://a.test/", "http://b.test/"]}, "given 2 times"),
])
def test_bad_new_upload_parameters_are_400_and_create_nothing(http, server, params, needle):
    """Each missing or malformed parameter gets 400 with a one-line message naming it."""
    code, body = call(http, "POST", "new_upload", params)
    assert code == 400 and needle in body and body.count("\n") == 1
    assert server.registry.tickets == {}


def test_errors_are_json_when_asked(http):
    """With Accept: application/json an error is {"error": {"code", "name", "message"}}."""
    code, body = call(http, "POST", "new_upload", {}, json_wanted=True)
    assert code == 400
    assert json.loads(body) == {"error": {"code": 1, "name": "bad_request",
                                          "message": "missing parameter signalFinishURL"}}


def test_an_unexpected_failure_is_500_storage_failed_and_logged(http, server, monkeypatch):
    """A failure that is no IncomingError (here: the registry cannot save) answers 500 with
    error 12, which tells the backend to try again, and the traceback goes to the log."""
    monkeypatch.setattr(server.registry, "save", lambda ticket: fail(OSError("disk full")))
    with capturedLogs() as events:
        code, body = call(http, "POST", "new_upload", {"signalFinishURL": "https://a.test/x"},
                          json_wanted=True)
    assert code == 500
    assert json.loads(body)["error"] == {"code": 12, "name": "storage_failed",
                                         "message": "internal server error"}
    failures = [e["log_failure"] for e in events if "log_failure" in e]
    assert [f.type for f in failures] == [OSError]


def test_wrong_method_is_405(http):
    """new_upload is POST only; a GET gets 405 with Allow."""
    code, body = call(http, "GET", "new_upload", {"signalFinishURL": "http://a.test/"})
    assert code == 405 and "POST" in body


@pytest.mark.parametrize("name, method", [("cancel_upload", "POST"), ("finish_upload", "POST"),
                                          ("upload_status", "GET")])
def test_unknown_ticket_is_404_and_wrong_secret_is_403(http, server, name, method):
    """Calls naming a ticket: unknown ID → 404, wrong backendSecret → 403, nothing changes."""
    ticket_id = new(http, backendSecret="right")[1]
    assert call(http, method, name, {"id": "nope", "backendSecret": "right"})[0] == 404
    code, body = call(http, method, name, {"id": ticket_id, "backendSecret": "wrong"})
    assert code == 403 and "backendSecret" in body
    assert server.state(ticket_id) == "created"


def test_cancel_upload_cancels_and_answers_ok(http, server):
    """cancel_upload answers ok, the ticket is cancelled and the backend is told."""
    ticket_id = new(http, backendSecret="s")[1]
    assert call(http, "POST", "cancel_upload", {"id": ticket_id, "backendSecret": "s"}) == (
        200, "ok")
    assert server.state(ticket_id) == "cancelled"
    assert server.handover.calls[0][0].cancelled_by == "backend"


def test_cancel_of_a_cancelled_ticket_is_409(http, server):
    """Cancelling twice: the second call is 409 ticket_closed."""
    ticket_id = new(http)[1]
    call(http, "POST", "cancel_upload", {"id": ticket_id})
    code, body = call(http, "POST", "cancel_upload", {"id": ticket_id})
    assert code == 409 and "cancelled" in body


def test_finish_upload_outside_wait_is_409(http):
    """finish_upload for a ticket that is not waiting for the backend is 409 wrong_state."""
    ticket_id = new(http)[1]
    code, body = call(http, "POST", "finish_upload", {"id": ticket_id}, json_wanted=True)
    assert code == 409 and json.loads(body)["error"]["name"] == "wrong_state"


def test_upload_status_reports_state_and_bytes(http, server):
    """upload_status answers JSON with state, bytes received, size and file name."""
    ticket_id = new(http)[1]
    conn = server.connect()
    conn.hello(ticket_id, 100, "holiday.mov")
    conn.send_bytes(b"x" * 30)
    code, body = call(http, "GET", "upload_status", {"id": ticket_id})
    status = json.loads(body)
    assert code == 200
    assert (status["state"], status["bytesReceived"], status["size"],
            status["filenameFromBrowser"]) == ("uploading", 30, 100, "holiday.mov")
    assert "backendSecret" not in status and "backend_secret" not in body

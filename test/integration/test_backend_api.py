"""The backend HTTP API (docs/api.rst) over real HTTP: answers, refusals, and that refusals change
nothing."""

from __future__ import annotations

import re
import urllib.request

import pytest

from test.support.backend import BackendAPI, FakeBackend
from test.support.server import IncomingServer
from test.integration.wsupload import Connection, make_data, sha256

CALLS_WITH_TICKET = ("cancel_upload", "finish_upload", "upload_status")


def _one_line_error(response) -> None:  # type: ignore[no-untyped-def]
    assert response.content_type.startswith("text/plain"), response.headers
    text = response.text.rstrip("\n")
    assert text and "\n" not in text and "Traceback" not in text, response.text


def _json_error(response, status: int, code: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status == status, response
    assert response.content_type.startswith("application/json"), response.headers
    error = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    return error


# -- new_upload ------------------------------------------------------------------------------------

def test_new_upload_returns_an_unguessable_url_safe_id(api: BackendAPI,
                                                       backend: FakeBackend) -> None:
    """new_upload answers 200 with a plain-text ticket ID: URL-safe, at least 128 bits, new every
    time."""
    response = api.call("new_upload", {"signalFinishURL": backend.callback_url()})
    assert response.status == 200
    assert response.content_type.startswith("text/plain")
    ids = {response.text} | {api.new_upload(backend.callback_url()) for _ in range(20)}
    assert len(ids) == 21
    for ticket in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", ticket), ticket  # 22 base64 chars = 132 bits
    assert api.upload_status(response.text)["state"] == "created"


def test_new_upload_accepts_parameters_in_the_query_string(api: BackendAPI,
                                                           backend: FakeBackend) -> None:
    """Form values may come in the query string of the POST instead of its body."""
    response = api.call("new_upload", {"signalFinishURL": backend.callback_url(), "maxSize": 123},
                        method="POST", in_query=True)
    assert response.status == 200, response
    assert api.upload_status(response.text)["maxSize"] == 123


def test_new_upload_json(api: BackendAPI, backend: FakeBackend) -> None:
    """With Accept: application/json, new_upload answers {"id": ...}."""
    response = api.call("new_upload", {"signalFinishURL": backend.callback_url()}, accept_json=True)
    assert response.status == 200
    assert response.content_type.startswith("application/json")
    ticket = response.json()["id"]
    assert api.upload_status(ticket)["state"] == "created"


BAD_NEW_UPLOADS = {
    "missing-signalFinishURL": {"backendSecret": "x"},
    "empty-signalFinishURL": {"signalFinishURL": ""},
    "signalFinishURL-not-a-url": {"signalFinishURL": "not a url"},
    "signalFinishURL-ftp": {"signalFinishURL": "ftp://example.com/cb"},
    "signalFinishURL-no-host": {"signalFinishURL": "http:///cb"},
    "signalFinishURL-javascript": {"signalFinishURL": "javascript:alert(1)"},
    "signalFinishURL-too-long": {"signalFinishURL": "http://example.com/" + "a" * 2100},
    "removeFileWhenFinished-maybe": {"removeFileWhenFinished": "maybe"},
    "removeFileWhenFinished-empty": {"removeFileWhenFinished": ""},
    "maxSize-negative": {"maxSize": "-5"},
    "maxSize-zero": {"maxSize": "0"},
    "maxSize-not-a-number": {"maxSize": "lots"},
    "maxSize-fraction": {"maxSize": "1.5"},
    "maxSize-with-unit": {"maxSize": "10MiB"},
    "destType-s3": {"destType": "s3"},
    "destType-empty": {"destType": ""},
    "backendSecret-too-long": {"backendSecret": "s" * 1025},
}


@pytest.mark.parametrize("name", list(BAD_NEW_UPLOADS))
def test_new_upload_refuses_bad_parameters(name: str, api: BackendAPI,
                                           backend: FakeBackend) -> None:
    """A missing or malformed new_upload parameter gets 400 with one line (or a JSON error)."""
    params = {"signalFinishURL": backend.callback_url(), **BAD_NEW_UPLOADS[name]}
    if name.startswith("missing-"):
        del params["signalFinishURL"]
    response = api.call("new_upload", params)
    assert response.status == 400, (name, response)
    _one_line_error(response)
    error = _json_error(api.call("new_upload", params, accept_json=True), 400, 1)
    assert error.get("name", "bad_request") == "bad_request"


def test_new_upload_refuses_a_repeated_parameter(api: BackendAPI, backend: FakeBackend) -> None:
    """A parameter given twice is ambiguous: 400."""
    response = api.call("new_upload", [("signalFinishURL", backend.callback_url()),
                                       ("signalFinishURL", backend.callback_url("/other"))])
    assert response.status == 400
    _one_line_error(response)


# -- calls naming a ticket -------------------------------------------------------------------------

def test_upload_status_json(api: BackendAPI, backend: FakeBackend) -> None:
    """upload_status answers a JSON object with the state, sizes, names and timestamps (no
    secret)."""
    ticket = api.new_upload(backend.callback_url(), backend_secret="hush", max_size=5000)
    for method in ("GET", "POST"):
        response = api.call("upload_status", {"id": ticket, "backendSecret": "hush"}, method=method)
        assert response.status == 200, response
        assert response.content_type.startswith("application/json")
        status = response.json()
        assert status["id"] == ticket and status["state"] == "created"
        assert status["bytesReceived"] == 0 and status["size"] is None
        assert status["maxSize"] == 5000
        assert status["createdAt"] > 0 and status["updatedAt"] >= status["createdAt"]
        assert "hush" not in response.text


@pytest.mark.parametrize("call", CALLS_WITH_TICKET)
def test_unknown_id(call: str, api: BackendAPI) -> None:
    """An unknown ticket ID gets 404 (JSON error code 2 when asked)."""
    method = "GET" if call == "upload_status" else "POST"
    params = {"id": "no-such-ticket", "backendSecret": ""}
    response = api.call(call, params, method=method)
    assert response.status == 404, response
    _one_line_error(response)
    _json_error(api.call(call, params, method=method, accept_json=True), 404, 2)


@pytest.mark.parametrize("call", CALLS_WITH_TICKET)
def test_missing_id(call: str, api: BackendAPI) -> None:
    """A call without an id gets 400."""
    method = "GET" if call == "upload_status" else "POST"
    response = api.call(call, {"backendSecret": ""}, method=method)
    assert response.status == 400, response
    _one_line_error(response)


@pytest.mark.parametrize("call", CALLS_WITH_TICKET)
def test_wrong_secret_changes_nothing(call: str, server: IncomingServer, api: BackendAPI,
                                      backend: FakeBackend) -> None:
    """A wrong backendSecret gets 403 and changes nothing: the connected upload goes on and
    completes."""
    data = make_data(300_000, seed=61)
    ticket = api.new_upload(backend.callback_url(), backend_secret="right")
    conn = Connection(server)
    conn.hello(ticket, len(data))
    conn.send_data(data, upto=100_000)
    conn.wait_for_ack(100_000)
    before = api.upload_status(ticket, "right")
    method = "GET" if call == "upload_status" else "POST"
    for secret in ("wrong", "", "right "):
        response = api.call(call, {"id": ticket, "backendSecret": secret}, method=method)
        assert response.status == 403, (secret, response)
        _one_line_error(response)
    _json_error(api.call(call, {"id": ticket, "backendSecret": "x"}, method=method,
                         accept_json=True), 403, 3)
    after = api.upload_status(ticket, "right")
    assert after == before
    assert server.partial_path(ticket).stat().st_size == 100_000
    conn.drain()
    assert conn.of_type("cancelled") == [] and not conn.closed
    conn.send_data(data)
    assert conn.until_closed() == 1000
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["cancelled"] == "no" and callback.form["sha256"] == sha256(data)


def test_finish_upload_in_the_wrong_state_changes_nothing(api: BackendAPI,
                                                          backend: FakeBackend) -> None:
    """finish_upload for a ticket that is not waiting for the backend gets 409, and the state
    stays."""
    ticket = api.new_upload(backend.callback_url())
    response = api.call("finish_upload", {"id": ticket})
    assert response.status == 409, response
    _one_line_error(response)
    _json_error(api.call("finish_upload", {"id": ticket}, accept_json=True), 409, 14)
    assert api.upload_status(ticket)["state"] == "created"
    assert backend.callbacks_for(ticket) == []


def test_cancel_upload_answers_ok_once(api: BackendAPI, backend: FakeBackend) -> None:
    """cancel_upload answers ok (or {"result": "ok"} as JSON); a second cancel is refused with
    409."""
    ticket = api.new_upload(backend.callback_url())
    response = api.call("cancel_upload", {"id": ticket}, accept_json=True)
    assert response.status == 200 and response.json() == {"result": "ok"}
    assert response.headers.get("Cache-Control") == "no-store"
    assert api.upload_status(ticket)["state"] == "cancelled"
    backend.wait_for_callbacks(ticket)
    again = api.call("cancel_upload", {"id": ticket})
    assert again.status == 409
    _one_line_error(again)
    assert len(backend.callbacks_for(ticket)) == 1


@pytest.mark.parametrize("call,method", [
    ("new_upload", "GET"), ("new_upload", "PUT"), ("cancel_upload", "GET"),
    ("finish_upload", "GET"), ("upload_status", "PUT"), ("upload_status", "DELETE"),
])
def test_wrong_method(call: str, method: str, api: BackendAPI, backend: FakeBackend) -> None:
    """A call with the wrong HTTP method gets 405 with an Allow header, and creates nothing."""
    ticket = api.new_upload(backend.callback_url())
    params = {"id": ticket, "signalFinishURL": backend.callback_url()}
    response = api.call(call, params, method=method, in_query=True)
    assert response.status == 405, response
    assert "POST" in response.headers.get("Allow", ""), response.headers
    _one_line_error(response)
    assert _json_error(api.call(call, params, method=method, in_query=True, accept_json=True),
                       405, 1)
    assert api.upload_status(ticket)["state"] == "created"


def test_unknown_call_is_404(api: BackendAPI) -> None:
    """A path under backend/ that is no call gets 404."""
    assert api.call("delete_everything", {}).status == 404


def test_new_upload_accepts_a_multipart_body(server: IncomingServer, backend: FakeBackend) -> None:
    """Form values may come as multipart/form-data, as some HTTP clients send forms."""
    boundary = "----incoming-test-boundary"
    fields = {"signalFinishURL": backend.callback_url(), "backendSecret": "mp", "maxSize": "77"}
    body = "".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                   for k, v in fields.items()) + f"--{boundary}--\r\n"
    request = urllib.request.Request(
        f"{server.api_url}/new_upload", data=body.encode(), method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        ticket = response.read().decode()
    status = BackendAPI(server.api_url).upload_status(ticket, "mp")
    assert status["maxSize"] == 77

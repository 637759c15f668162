"""incoming.client: the backend API client (against a scripted local HTTP server) and
verify_callback."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from incoming import webhooks
from incoming.client import CallbackVerificationError, Client, IncomingAPIError, verify_callback
from datetime import UTC

KEY = "whsec_" + base64.b64encode(b"s" * 32).decode()
OLD = "whsec_" + base64.b64encode(b"o" * 24).decode()
NOW = 1_800_000_000


class Scripted(ThreadingHTTPServer):
    answers: list[tuple[int, dict]]
    seen: list[tuple[str, dict, bytes]]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.path, dict(self.headers.items()), body))
        status, answer = self.server.answers.pop(0)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api() -> Iterator[Scripted]:
    server = Scripted(("127.0.0.1", 0), Handler)
    server.answers, server.seen = [], []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def client(api, **kwargs) -> Client:
    return Client(f"http://127.0.0.1:{api.server_address[1]}", timeout=5, **kwargs)


def test_new_upload_sends_form_key_and_secret_header(api):
    """new_upload posts the form, the Bearer key and the secret as a header, never in the URL."""
    api.answers.append((200, {"id": "T123"}))
    ticket = client(api, api_key="k1").new_upload("https://app.test/cb", backend_secret="s3",
                                                  remove_file_when_finished=False, max_size=99)
    assert ticket == "T123"
    [(path, headers, body)] = api.seen
    assert path == "/incoming/0.1/backend/new_upload" and "s3" not in path
    assert headers["Authorization"] == "Bearer k1" and headers["Incoming-Backend-Secret"] == "s3"
    assert headers["Accept"] == "application/json"
    assert dict(urllib.parse.parse_qsl(body.decode())) == {
        "signalFinishURL": "https://app.test/cb", "removeFileWhenFinished": "false",
        "maxSize": "99"}


def test_the_ticket_calls_name_the_ticket_and_return_the_status(api):
    """cancel, finish and status post the id; status returns the JSON object; no key, no header."""
    api.answers += [(200, {"result": "ok"}), (200, {"result": "ok"}),
                    (200, {"id": "T", "state": "finished"})]
    c = client(api)
    c.cancel_upload("T")
    c.finish_upload("T")
    assert c.upload_status("T")["state"] == "finished"
    assert [p.rsplit("/", 1)[1] for p, _, _ in api.seen] == [
        "cancel_upload", "finish_upload", "upload_status"]
    assert all(b == b"id=T" and "Authorization" not in h and "Incoming-Backend-Secret" not in h
               for _, h, b in api.seen)


def test_an_error_answer_raises_with_status_code_and_message(api):
    """A 4xx JSON error becomes IncomingAPIError(status, code, message)."""
    api.answers.append((404, {"error": {"code": 2, "name": "unknown_ticket",
                                        "message": "no such ticket"}}))
    with pytest.raises(IncomingAPIError) as caught:
        client(api).upload_status("nope")
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        404, 2, "no such ticket")


def signed_headers(body: bytes, stamp: int = NOW, keys=(b"s" * 32,)) -> dict[str, str]:
    return webhooks.webhook_headers(list(keys), "msg_abc", stamp, body)


BODY = b"id=T1&filename=%2Fsrv%2Fa+b&cancelled=no&backendSecret="


def test_a_good_callback_verifies_and_returns_its_form():
    """A callback signed with the key verifies (header names in any case) and returns the form."""
    headers = {k.upper(): v for k, v in signed_headers(BODY).items()}
    form = verify_callback(headers, BODY, [KEY], now=NOW + 10)
    assert form == {"id": "T1", "filename": "/srv/a b", "cancelled": "no", "backendSecret": ""}
    assert verify_callback(list(headers.items()), BODY, [OLD, KEY], now=NOW)["id"] == "T1"


@pytest.mark.parametrize("change", ["body", "stale", "future", "key", "missing", "version"])
def test_a_doubtful_callback_is_refused(change):
    """A changed body, an old or future timestamp, another key, a missing header or an unknown
    signature version fail verification."""
    headers, body, now, keys = signed_headers(BODY), BODY, NOW, [KEY]
    if change == "body":
        body = BODY.replace(b"no", b"yes")
    elif change == "stale":
        now = NOW + 301
    elif change == "future":
        now = NOW - 301
    elif change == "key":
        keys = [OLD]
    elif change == "missing":
        del headers["webhook-signature"]
    else:
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    with pytest.raises(CallbackVerificationError):
        verify_callback(headers, body, keys, now=now)


def test_verify_callback_agrees_with_the_reference_library():
    """What standardwebhooks signs, verify_callback accepts (and the other way round)."""
    from datetime import datetime

    stamp = datetime.fromtimestamp(NOW, tz=UTC)
    signature = Webhook(KEY).sign("msg_x", stamp, BODY.decode())
    headers = {"webhook-id": "msg_x", "webhook-timestamp": str(NOW), "webhook-signature": signature}
    assert verify_callback(headers, BODY, [KEY], now=NOW)["id"] == "T1"


@pytest.mark.parametrize("stamp", ["\u00b2", "\u2460", "1\u00b3"])
def test_a_timestamp_of_other_digit_characters_is_refused_as_unverified(stamp: str) -> None:
    """A forged webhook-timestamp of non-ASCII digit characters fails verification with
    CallbackVerificationError, not with an uncaught ValueError."""
    headers = signed_headers(BODY)
    headers["webhook-timestamp"] = stamp
    with pytest.raises(CallbackVerificationError):
        verify_callback(headers, BODY, [KEY], now=NOW)

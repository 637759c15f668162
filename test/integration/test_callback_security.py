"""Callbacks against a real server: signatures that the reference libraries (Python and
Node.js) verify, stable IDs across retries, no redirects, bounded answers, callback_allow."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from incoming.client import CallbackVerificationError, verify_callback
from test.integration.conftest import FAST_OPTIONS
from test.integration.wsupload import make_data, upload
from test.support.backend import DONE, Answer, BackendAPI, Callback, FakeBackend, body, delayed, \
    http_error
from test.support.server import IncomingServer

KEYS = ["whsec_" + base64.b64encode(bytes([n]) * 32).decode() for n in (1, 2)]
NODE_VERIFY = Path(__file__).parent.parent / "support" / "verify_webhook.mjs"


@pytest.fixture(scope="module")
def server_options() -> dict[str, Any]:
    return {"callback_signing_key": KEYS}


def callback_of(server: IncomingServer, api: BackendAPI, backend: FakeBackend,
                *answers: Answer | str | int) -> tuple[str, list[Callback]]:
    """Upload a small file for a new ticket whose callbacks get ``answers``; the callbacks."""
    ticket = api.new_upload(backend.callback_url())
    if answers:
        backend.answer(ticket, *answers)
    conn = upload(server, ticket, make_data(20_000, seed=5))
    assert conn.states[-1] == "finished", conn.messages
    return ticket, backend.callbacks_for(ticket)


def node_verifies(key: str, callback: Callback, payload: bytes | None = None,
                  headers: dict[str, str] | None = None) -> bool:
    message = {"key": key, "payload": (payload or callback.raw_body).decode(),
               "headers": headers or callback.headers}
    result = subprocess.run(["node", str(NODE_VERIFY)], input=json.dumps(message).encode(),
                            capture_output=True, timeout=20)
    assert b"Cannot find" not in result.stderr, "run `npm ci` in test/browser"
    return result.returncode == 0 and result.stdout.strip() == b"ok"


def test_a_callback_verifies_with_both_reference_libraries(server, api, backend) -> None:
    """Each configured key's signature verifies with standardwebhooks in Python and in Node.js,
    and with incoming.client.verify_callback."""
    ticket, [callback] = callback_of(server, api, backend)
    assert len(callback.headers["webhook-signature"].split(" ")) == 2
    assert callback.content_type == "application/x-www-form-urlencoded"
    for key in KEYS:
        assert Webhook(key).verify(callback.raw_body, callback.headers, json_parse=False) is None
        assert node_verifies(key, callback)
    form = verify_callback(callback.headers, callback.raw_body, KEYS[1:])
    assert form == callback.form and form["id"] == ticket


def test_a_changed_body_or_a_stale_timestamp_fails_verification(server, api, backend) -> None:
    """Tampering with the body, or replaying the callback later, is detected by every verifier."""
    _, [callback] = callback_of(server, api, backend)
    changed = callback.raw_body.replace(b"cancelled=no", b"cancelled=yes")
    assert changed != callback.raw_body
    with pytest.raises(WebhookVerificationError):
        Webhook(KEYS[0]).verify(changed, callback.headers, json_parse=False)
    assert not node_verifies(KEYS[0], callback, payload=changed)
    with pytest.raises(CallbackVerificationError):
        verify_callback(callback.headers, changed, KEYS)
    stale = dict(callback.headers, **{"webhook-timestamp": str(int(time.time()) - 600)})
    with pytest.raises(WebhookVerificationError):
        Webhook(KEYS[0]).verify(callback.raw_body, stale, json_parse=False)
    assert not node_verifies(KEYS[0], callback, headers=stale)
    with pytest.raises(CallbackVerificationError, match="too old"):
        verify_callback(callback.headers, callback.raw_body, KEYS, now=time.time() + 400)


def test_retries_keep_the_id_and_carry_a_new_timestamp(server, api, backend) -> None:
    """A retried callback has the same webhook-id and a later webhook-timestamp; each verifies."""
    _, calls = callback_of(server, api, backend, delayed(1.1, http_error(500)), DONE)
    assert len(calls) >= 2
    assert len({c.headers["webhook-id"] for c in calls}) == 1
    assert int(calls[0].headers["webhook-timestamp"]) < int(calls[1].headers["webhook-timestamp"])
    for call in calls[:2]:
        Webhook(KEYS[0]).verify(call.raw_body, call.headers, json_parse=False)


def test_a_redirect_is_not_followed(server, api, backend) -> None:
    """A 307 answer is retried at the original URL; its Location never gets a request."""
    moved = Answer(status=307, body="done",
                   headers=(("Location", backend.callback_url("/elsewhere")),))
    ticket, calls = callback_of(server, api, backend, moved, DONE)
    assert [c.path for c in calls] == ["/incoming-callback"] * len(calls) and len(calls) >= 2
    assert not [c for c in backend.callbacks if c.path == "/elsewhere"]


def test_an_answer_over_64_kib_is_not_taken_as_done(server, api, backend) -> None:
    """'done' padded past 64 KiB is a refusal (logged as such) and the callback is retried."""
    ticket, calls = callback_of(server, api, backend, body("done" + " " * 70_000), DONE)
    assert len(calls) >= 2
    server.wait_for_log(rf"callback for ticket {re.escape(ticket[:8])}… failed \(attempt 1\): "
                        r"answer longer than 64 KiB")


def test_callbacks_do_not_log_client_factories(server, api, backend) -> None:
    """No 'Starting factory' line per callback connection in the server's log."""
    callback_of(server, api, backend)
    assert "_HTTP11ClientFactory" not in server.log


# -- callback_allow --------------------------------------------------------------------------------

def ticket_count(server: IncomingServer) -> int:
    with sqlite3.connect(f"file:{server.storage_dir}/tickets.sqlite3?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM tickets").fetchone()[0]


@pytest.mark.time_limit(60)
def test_callback_allow_refuses_and_checks_addresses_at_connect_time(
        make_server: Callable[..., IncomingServer]) -> None:
    """Disallowed URLs get 400 and no ticket; a name allowed only by a network rule that
    resolves outside it (localhost → 127.0.0.1 under 10.1.2.0/24) is never connected to;
    an allowed URL is called as usual."""
    with FakeBackend() as backend:
        server = make_server(**{**FAST_OPTIONS, "handover_timeout": "3s", "callback_allow": [
            "10.1.2.0/24", backend.callback_url("/ok/")]})
        api = BackendAPI(server.api_url)
        for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
                    f"http://127.0.0.1:{backend.port}@evil.test/ok/",
                    f"http://0x7f.1:{backend.port}/ok/", backend.callback_url("/other")):
            response = api.call("new_upload", {"signalFinishURL": url})
            assert response.status == 400, url
            assert "signalFinishURL is not allowed" in response.text, url
        assert ticket_count(server) == 0

        rebound = api.new_upload(f"http://localhost:{backend.port}/ok/cb")
        conn = upload(server, rebound, make_data(10_000, seed=3))
        assert conn.states[-1] != "finished"
        status = api.upload_status(rebound)
        assert status["state"] == "failed" and "outside the networks" in status["failure"]
        assert backend.callbacks == []

        allowed = api.new_upload(backend.callback_url("/ok/cb"))
        assert upload(server, allowed, make_data(10_000, seed=4)).states[-1] == "finished"
        assert [c.path for c in backend.callbacks] == ["/ok/cb"]

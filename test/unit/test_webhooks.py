"""Signing keys and Standard Webhooks headers: format, files, IDs, signatures."""

from __future__ import annotations

import base64
import os
from datetime import datetime, UTC

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from incoming import webhooks
from incoming.config import Config, ConfigError
from incoming.tickets import State, Ticket

KEY = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER = "whsec_" + base64.b64encode(b"k" * 24).decode()


def ticket(**changes):
    fields = dict(id="T" * 32, signal_finish_url="http://b.test/cb", state=State.HANDING_OVER)
    fields.update(changes)
    return Ticket(**fields)


@pytest.mark.parametrize("text", [
    "whsec_" + base64.b64encode(b"x" * 23).decode(),
    "whsec_" + base64.b64encode(b"x" * 65).decode(),
    base64.b64encode(b"x" * 32).decode(),
    "whsec_" + base64.urlsafe_b64encode(b"\xff" * 32).decode(),
    "whsec_" + base64.b64encode(b"x" * 32).decode().rstrip("="),
    "whsec_not base64!",
])
def test_a_bad_key_is_a_config_error_that_hides_the_key(text):
    """Keys must be whsec_ + padded standard base64 of 24..64 bytes; the error never shows one."""
    with pytest.raises(ConfigError) as caught:
        webhooks.signing_keys(Config(callback_signing_key=(KEY, text)))
    assert caught.value.option == "callback_signing_key" and "key 2" in str(caught.value)
    assert text not in str(caught.value) and "\n" not in str(caught.value)


def test_keys_come_from_the_option_and_the_file(tmp_path):
    """Inline keys first, then the file's lines; blank and # lines are skipped."""
    path = tmp_path / "keys"
    path.write_text(f"# rotated 2026-11\n\n  {OTHER}  \n")
    keys = webhooks.signing_keys(Config(callback_signing_key=(KEY,),
                                        callback_signing_key_file=str(path)))
    assert keys == (bytes(range(32)), b"k" * 24)


def test_a_bad_or_missing_key_file_names_its_option(tmp_path):
    """An unreadable file, or a bad line in it, is a ConfigError naming the file option."""
    for config in (Config(callback_signing_key_file=str(tmp_path / "absent")),
                   Config(callback_signing_key_file=str(tmp_path))):
        with pytest.raises(ConfigError) as caught:
            webhooks.signing_keys(config)
        assert caught.value.option == "callback_signing_key_file"
    path = tmp_path / "keys"
    path.write_text(f"{KEY}\nwhsec_short\n")
    with pytest.raises(ConfigError, match="line 2 of") as caught:
        webhooks.signing_keys(Config(callback_signing_key_file=str(path)))
    assert caught.value.option == "callback_signing_key_file"


def test_the_message_id_depends_on_ticket_and_outcome_only():
    """The same ticket and outcome give the same ID (retries, restarts); others differ."""
    finished = webhooks.message_id(ticket())
    assert finished == webhooks.message_id(ticket(size=9, updated_at=5.0))
    assert finished.startswith("msg_") and "." not in finished
    cancelled = webhooks.message_id(ticket(state=State.CANCELLED, cancelled_by="backend"))
    expired = webhooks.message_id(ticket(state=State.EXPIRED, cancelled_by="server"))
    other = webhooks.message_id(ticket(id="U" * 32))
    assert len({finished, cancelled, expired, other}) == 4


def test_headers_verify_with_the_standardwebhooks_package():
    """Each key's signature verifies with the reference Python library; a changed body fails."""
    body = webhooks.encode_form([("id", "T1"), ("filename", "/srv/a b&c")])
    now = int(datetime.now(UTC).timestamp())
    headers = webhooks.webhook_headers(
        [bytes(range(32)), b"k" * 24], "msg_1", now, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for key in (KEY, OTHER):
        Webhook(key).verify(body, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(KEY).verify(body + b"&x=1", headers, json_parse=False)


def test_without_keys_id_and_timestamp_are_sent_unsigned():
    """No key: webhook-id and webhook-timestamp still go out, webhook-signature does not."""
    headers = webhooks.webhook_headers([], "msg_1", 1700000000, b"a=1")
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == "1700000000"
    assert "webhook-signature" not in headers
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_a_random_key_round_trips():
    """A freshly generated whsec_ key parses back to its bytes."""
    raw = os.urandom(32)
    assert webhooks.parse_signing_key("whsec_" + base64.b64encode(raw).decode()) == raw

"""Signed callbacks, per the Standard Webhooks specification (standardwebhooks.com).

A backend that receives a callback must know it comes from this server and
was not replayed: ``backendSecret`` (0.1) proves the first only if nobody
on the way reads it. Every callback therefore carries three headers:

``webhook-id``
    the same for every attempt of one delivery, across restarts too
    (``msg_`` + a hash of the ticket ID and the outcome: finished, cancelled,
    expired), so a backend can use it as its idempotency key;
``webhook-timestamp``
    when this attempt was signed, whole Unix seconds (from the injected clock);
``webhook-signature``
    ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}." + body)>``, one per
    configured key, separated by spaces (so keys can be rotated: add the new
    key, move the backend over, remove the old one).

The body is signed as the exact bytes sent. Keys are ``whsec_`` followed by
standard base64 of 24 to 64 random bytes (the format of the specification's
libraries). With no key configured the ID and timestamp are still sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import urlencode

from incoming.config import Config, ConfigError, read_list_file
from incoming.tickets import State, Ticket

KEY_PREFIX = "whsec_"
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
CONTENT_TYPE = "application/x-www-form-urlencoded"


def parse_signing_key(text: str) -> bytes:
    """The key bytes of ``whsec_<base64>``; ValueError (never showing the key) otherwise."""
    text = text.strip()
    if not text.startswith(KEY_PREFIX):
        raise ValueError(f"a signing key starts with {KEY_PREFIX}")
    try:
        key = base64.b64decode(text[len(KEY_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a signing key is {KEY_PREFIX} followed by standard base64 "
                         "(A-Z a-z 0-9 + /, padded with =)") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"a signing key holds {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, "
                         f"not {len(key)}")
    return key


def signing_keys(config: Config) -> tuple[bytes, ...]:
    """Every key of ``callback_signing_key`` and ``callback_signing_key_file``, validated.

    Raises :class:`ConfigError` naming the option (and the key's position, never
    the key itself). Reads the key file: call it while starting, not per callback.
    """
    keys = [_key("callback_signing_key", f"key {n}", text)
            for n, text in enumerate(config.callback_signing_key, 1)]
    path = config.callback_signing_key_file
    keys += [_key("callback_signing_key_file", f"line {n} of {path}", text)
             for n, text in read_list_file("callback_signing_key_file", path)]
    return tuple(keys)


def _key(option: str, where: str, text: str) -> bytes:
    try:
        return parse_signing_key(text)
    except ValueError as e:
        raise ConfigError(option, f"{where}: {e}") from None


def outcome(ticket: Ticket) -> str:
    """What the callback tells: ``finished``, ``cancelled`` or ``expired``."""
    if ticket.state is State.EXPIRED:
        return "expired"
    return "cancelled" if ticket.cancelled_by else "finished"


def message_id(ticket: Ticket) -> str:
    """``webhook-id``: derived, not drawn, so retries and restarts repeat it."""
    digest = hashlib.sha256(f"incoming-callback\0{ticket.id}\0{outcome(ticket)}".encode())
    return "msg_" + digest.hexdigest()[:32]


def encode_form(values: Iterable[tuple[str, str]]) -> bytes:
    """The body, encoded once here so that what is signed is what is sent."""
    return urlencode(list(values)).encode("ascii")


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body``."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def webhook_headers(keys: Sequence[bytes], msg_id: str, timestamp: int,
                    body: bytes) -> dict[str, str]:
    """The headers of one attempt: ID, timestamp and, with keys, their signatures."""
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
               "Content-Type": CONTENT_TYPE}
    if keys:
        headers["webhook-signature"] = " ".join(
            signature(key, msg_id, timestamp, body) for key in keys)
    return headers

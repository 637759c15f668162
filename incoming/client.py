"""A small synchronous client for web-app backends, standard library only.

Two halves: :class:`Client` calls the backend API (``new_upload``,
``cancel_upload``, ``finish_upload``, ``upload_status``); and
:func:`verify_callback` checks a callback's Standard Webhooks signature
before the backend trusts what it says. Neither needs Twisted; copy this one
file into a backend if installing Incoming!! there is not wanted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any, cast

DEFAULT_TIMEOUT = 30.0
TOLERANCE = 300
"""Seconds a callback's timestamp may be off the backend's clock (the specification's 5 min)."""


class IncomingAPIError(Exception):
    """A backend API call failed: HTTP ``status``, Incoming!! error ``code`` and ``message``."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"HTTP {status}" + (f", error {code}" if code is not None else "")
                         + f": {message}")
        self.status = status
        self.code = code
        self.message = message


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected API call is an error: the API key must not follow it elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    """Calls an Incoming!! server's backend API.

    ``base_url``: the server's address, ``http://127.0.0.1:4000`` (the
    ``/incoming/0.1/backend`` path is added) or the full API URL.
    ``api_key``: sent as ``Authorization: Bearer`` when the server wants one.
    The ticket's ``backend_secret`` travels in the ``Incoming-Backend-Secret``
    header, never in a URL (URLs end up in logs).
    """

    API_PATH = "/incoming/0.1/backend"

    def __init__(self, base_url: str, api_key: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        base = base_url.rstrip("/")
        self.api_url = base if base.endswith(self.API_PATH) else base + self.API_PATH
        self.api_key = api_key
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects())

    def new_upload(self, signal_finish_url: str, backend_secret: str = "",
                   remove_file_when_finished: bool = True, max_size: int | None = None) -> str:
        """Create a ticket for one upload; its ID, to give to the browser."""
        form = {"signalFinishURL": signal_finish_url,
                "removeFileWhenFinished": "true" if remove_file_when_finished else "false"}
        if max_size is not None:
            form["maxSize"] = str(max_size)
        return str(self._call("new_upload", form, backend_secret)["id"])

    def cancel_upload(self, id: str, backend_secret: str = "") -> None:
        """Cancel an upload that is not complete yet (the callback says ``cancelled=yes``)."""
        self._call("cancel_upload", {"id": id}, backend_secret)

    def finish_upload(self, id: str, backend_secret: str = "") -> None:
        """End a handover the backend answered with ``wait``."""
        self._call("finish_upload", {"id": id}, backend_secret)

    def upload_status(self, id: str, backend_secret: str = "") -> dict[str, Any]:
        """The ticket's state, bytes received, size, file name, … (see docs/api.rst)."""
        return self._call("upload_status", {"id": id}, backend_secret)

    def _call(self, name: str, form: Mapping[str, str], backend_secret: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.api_url}/{name}", data=urllib.parse.urlencode(form).encode(), method="POST",
            headers=self._headers(backend_secret))
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return _json_object(response.status, response.read())
        except urllib.error.HTTPError as e:
            with e:
                raise _api_error(e.code, e.read()) from None

    def _headers(self, backend_secret: str) -> dict[str, str]:
        headers = {"Accept": "application/json",
                   "Content-Type": "application/x-www-form-urlencoded"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if backend_secret:
            headers["Incoming-Backend-Secret"] = backend_secret
        return headers


def _json_object(status: int, body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise IncomingAPIError(status, None, f"the answer is not JSON: {body[:80]!r}") from None
    if not isinstance(value, dict):
        raise IncomingAPIError(status, None, "the answer is not a JSON object")
    return value


def _api_error(status: int, body: bytes) -> IncomingAPIError:
    """The error of ``{"error": {"code", "name", "message"}}``, or of whatever came instead."""
    try:
        error = json.loads(body)["error"]
        return IncomingAPIError(status, int(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        text = body.decode("utf-8", errors="replace").strip()[:200]
        return IncomingAPIError(status, None, text or "no message")


# -- checking a callback ---------------------------------------------------------------------------

class CallbackVerificationError(Exception):
    """The callback is not provably from this server, now: answer it with 400 or 401."""


def verify_callback(headers: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes,
                    keys: Iterable[str], tolerance: int = TOLERANCE,
                    now: float | None = None) -> dict[str, str]:
    """Check a callback's signature; its form values as a dict.

    ``headers``: the request's headers, any mapping (names in any case) or
    pairs; ``body``: the raw request body, exactly as received (before any
    form parsing); ``keys``: the ``whsec_…`` keys the server signs with (during
    a rotation, both). ``now``: Unix seconds, for tests (default: the clock).

    Raises :class:`CallbackVerificationError` when a header is missing, the
    timestamp is more than ``tolerance`` seconds off (a replay), or no
    signature matches any key (a forgery or a changed body). Store
    ``headers["webhook-id"]`` to ignore a repeated delivery.
    """
    found = {name.lower(): value for name, value in _pairs(headers)}
    msg_id, stamp, signatures = (found.get(n, "") for n in
                                 ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and signatures):
        raise CallbackVerificationError("missing webhook-id, webhook-timestamp or "
                                        "webhook-signature header")
    _check_timestamp(stamp, tolerance, time.time() if now is None else now)
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = [hmac.new(_key_bytes(key), signed, hashlib.sha256).digest() for key in keys]
    if not any(_matches(candidate, expected) for candidate in signatures.split()):
        raise CallbackVerificationError("no signature matches")
    return dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def _pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    # http.server's and email's header objects are no Mapping, but have items()
    items = getattr(headers, "items", None)
    return items() if callable(items) else cast("Iterable[tuple[str, str]]", headers)


def _check_timestamp(stamp: str, tolerance: int, now: float) -> None:
    if not (stamp.isascii() and stamp.isdigit()):  # "²".isdigit(), yet int("²") fails
        raise CallbackVerificationError("webhook-timestamp is not whole seconds")
    if int(stamp) < now - tolerance:
        raise CallbackVerificationError("webhook-timestamp is too old")
    if int(stamp) > now + tolerance:
        raise CallbackVerificationError("webhook-timestamp is in the future")


def _key_bytes(key: str) -> bytes:
    try:
        return base64.b64decode(key.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a signing key is whsec_ followed by base64") from None


def _matches(candidate: str, expected: list[bytes]) -> bool:
    """Whether a ``v1,<base64>`` signature is one of ``expected`` (constant time)."""
    version, _, encoded = candidate.partition(",")
    if version != "v1":
        return False
    try:
        given = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return False
    found = False
    for digest in expected:
        found |= hmac.compare_digest(given, digest)
    return found

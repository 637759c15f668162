"""Telling the web-app backend about an upload: the callback of docs/api.rst.

``POST <signalFinishURL>`` with form values ``id``, ``filename``,
``filenameFromBrowser``, ``size``, ``sha256``, ``cancelled``, ``cancelReason``
and ``backendSecret`` (and ``bucket`` and ``key`` for an object in S3-compatible
storage). For a finished upload the backend answers ``done`` or
``wait`` (plain text, or JSON with a result for the page); for a cancel any
2xx will do. Every other outcome — a network
error, a timeout, another status, another body — is retried with a doubling
delay until the deadline; only then does the handover fail. The caller never
deletes the file while :meth:`Handover.deliver` may still succeed.

Each attempt is signed afresh (:mod:`incoming.webhooks`), follows no
redirect (a 3xx is a refusal: the URL was checked, where it points was not)
and reads at most :data:`MAX_ANSWER` bytes of the answer (a backend, or what
pretends to be one, cannot make the server buffer without end). An optional
:class:`HandoverObserver` hears of every attempt, for metrics and logs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any, Protocol, cast

import attrs
from twisted.internet.defer import CancelledError, Deferred, TimeoutError, inlineCallbacks
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol as StreamProtocol
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone, ResponseNeverReceived
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import UNKNOWN_LENGTH

from incoming import webhooks
from incoming.errors import ErrorCode, IncomingError
from incoming.lifecycle import short_id
from incoming.storage.location import split_object_url
from incoming.tickets import Ticket

ANSWERS = ("done", "wait")
MAX_RESULT = 16 * 1024
"""Longest result (JSON text) a backend may give for the page."""
MAX_ANSWER = 64 * 1024
"""Bytes of a callback's answer read at most; a longer answer is a refusal."""


class HTTPClient(Protocol):
    """The part of treq's HTTPClient we use (``treq.testing.StubTreq`` fits too)."""

    def post(self, url: str, /, *, data: bytes | dict[str, str] | None = None,
             headers: Any = None,  # dict[str, str]: treq's dict[bytes | str, ...] is invariant
             allow_redirects: bool = True) -> Deferred[Any]: ...


@attrs.frozen
class RetryPolicy:
    attempt_timeout: float
    total_timeout: float
    max_delay: float
    first_delay: float = 1.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), with ±20 % jitter."""
        base = min(self.max_delay, self.first_delay * 2 ** (attempt - 1))
        return base * rng.uniform(0.8, 1.2)


class BackendRefused(Exception):
    """One attempt got an answer that is not an acceptance."""


class HandoverObserver(Protocol):
    """Hears of every callback attempt (metrics, logs); must not raise, must not block."""

    def attempted(self, ticket: Ticket, attempt: int, result: str, detail: str,
                  seconds: float) -> None:
        """Attempt number ``attempt`` (1-based) of a delivery ended after ``seconds``.

        ``result`` is ``accepted`` (``detail``: done, wait or ok), ``refused``
        (an answer that is not an acceptance: a status, a body, too long),
        ``error`` (no answer: connection, DNS, TLS, callback_allow) or
        ``timeout`` (no answer within the attempt timeout). An attempt cut
        short by the server's shutdown is not reported.
        """


def callback_form(ticket: Ticket) -> list[tuple[str, str]]:
    cancelled = ticket.cancelled_by != ""
    where = None if cancelled else split_object_url(ticket.path)
    # An object in S3-compatible storage: filename is s3://BUCKET/KEY, and bucket and key (the
    # whole key, prefix included) come on their own, so that no backend parses the URL.
    named_object = [("bucket", where[0]), ("key", where[1])] if where else []
    return [
        ("id", ticket.id),
        ("filename", "" if cancelled else ticket.path),
        ("filenameFromBrowser", ticket.filename_from_browser),
        ("size", str(ticket.size if ticket.size is not None else 0)),
        ("sha256", "" if cancelled else ticket.sha256),
        ("cancelled", "yes" if cancelled else "no"),
        ("cancelReason", ticket.cancel_reason),
        ("backendSecret", ticket.backend_secret),
    ] + named_object


class Handover:
    """Delivers callbacks: signs, posts, reads the answer, retries until the deadline.

    ``signing_keys``: raw key bytes (see :func:`incoming.webhooks.signing_keys`);
    none means callbacks carry ``webhook-id`` and ``webhook-timestamp`` unsigned.
    """

    log = Logger()

    def __init__(self, http: HTTPClient, clock: IReactorTime, policy: RetryPolicy,
                 rng: random.Random | None = None, observer: HandoverObserver | None = None,
                 signing_keys: Sequence[bytes] = ()) -> None:
        self._http = http
        self._clock = clock
        self._policy = policy
        self._rng = rng or random.Random()
        self._observer = observer
        self._keys = tuple(signing_keys)

    def deliver(self, ticket: Ticket, since: float) -> Deferred[BackendAnswer]:
        """Call the backend until it accepts; fires with its answer (``done`` or ``wait``, and
        a result if it gave one; ``ok`` for a cancel).

        ``since`` is when the handover began (it may have begun before a
        restart); it fails with ``handover_failed`` at ``since + total_timeout``.
        Cancelling the returned Deferred stops the retries.
        """
        return self._deliver(ticket, since + self._policy.total_timeout)

    @inlineCallbacks
    def _deliver(self, ticket: Ticket, deadline: float) -> Any:
        attempt = 0
        # At least one attempt, even when the deadline passed while the server was stopped:
        # the backend must not go untold of an upload because of our own outage.
        while True:
            left = deadline - self._clock.seconds()
            if attempt and left <= 0:
                break
            attempt += 1
            timeout = min(self._policy.attempt_timeout, left) if left > 0 else (
                self._policy.attempt_timeout)
            started = self._clock.seconds()
            try:
                answer = yield self._attempt(ticket).addTimeout(
                    timeout, self._clock, onTimeoutCancel=_timed_out)
            except CancelledError:
                raise
            except Exception as e:
                if _cancelled(e):
                    raise CancelledError() from None  # the delivery was cancelled: a shutdown
                last_problem = _describe(e)
                self._observe(ticket, attempt, _result_of(e), last_problem, started)
                self.log.info("callback for ticket {id}… failed (attempt {n}): {problem}",
                              id=short_id(ticket.id), n=attempt, problem=last_problem)
            else:
                self._observe(ticket, attempt, "accepted", answer.state, started)
                return answer
            pause = min(self._policy.delay(attempt, self._rng), deadline - self._clock.seconds())
            if pause > 0:
                yield deferLater(self._clock, pause)
        raise IncomingError(ErrorCode.HANDOVER_FAILED,
                            f"the backend did not accept the upload in time: {last_problem}")

    def _observe(self, ticket: Ticket, attempt: int, result: str, detail: str,
                 started: float) -> None:
        if self._observer is None:
            return
        try:
            self._observer.attempted(ticket, attempt, result, detail,
                                     self._clock.seconds() - started)
        except Exception:
            self.log.failure("the handover observer failed")

    @inlineCallbacks
    def _attempt(self, ticket: Ticket) -> Any:
        body = webhooks.encode_form(callback_form(ticket))
        headers = webhooks.webhook_headers(self._keys, webhooks.message_id(ticket),
                                           int(self._clock.seconds()), body)
        response = yield self._http.post(ticket.signal_finish_url, data=body, headers=headers,
                                         allow_redirects=False)
        raw = yield read_at_most(response, MAX_ANSWER)
        if not 200 <= response.code < 300:
            raise BackendRefused(f"HTTP {response.code}")
        if ticket.cancelled_by:
            return BackendAnswer("ok")
        content_type = (response.headers.getRawHeaders(b"content-type") or [b""])[0]
        return parse_answer(raw, content_type.split(b";")[0].strip().lower() == b"application/json")


@attrs.frozen
class BackendAnswer:
    """What the backend answered a callback: ``done``, ``wait`` (``ok`` for a cancel), and
    optionally a result for the page (JSON text)."""

    state: str
    result: str = ""


def parse_answer(raw: bytes, is_json: bool) -> BackendAnswer:
    """The plain-text ``done``/``wait`` of 0.1, or ``{"state": …, "result": …}`` as JSON."""
    text = raw.decode("utf-8", errors="replace")
    if not is_json:
        answer = text.strip().lower()
        if answer not in ANSWERS:
            raise BackendRefused(f"answer {text[:60]!r} is neither 'done' nor 'wait'")
        return BackendAnswer(answer)
    try:
        document = json.loads(text)
    except ValueError:
        raise BackendRefused("answer is not JSON, though it says so") from None
    if not isinstance(document, dict) or document.get("state") not in ANSWERS:
        raise BackendRefused('a JSON answer needs "state": "done" or "wait"')
    result = json.dumps(document["result"], separators=(",", ":")) if (
        "result" in document and document["result"] is not None) else ""
    if len(result) > MAX_RESULT:
        raise BackendRefused(f"the result is longer than {MAX_RESULT // 1024} KiB")
    return BackendAnswer(document["state"], result)


def read_at_most(response: Any, limit: int) -> Deferred[bytes]:
    """The body of ``response``; :class:`BackendRefused` as soon as it passes ``limit`` bytes.

    Past the limit it stops reading (the connection is dropped), so a huge or
    endless answer costs no more than ``limit`` bytes of memory.
    """
    reader = _LimitedReader(limit, getattr(response, "length", UNKNOWN_LENGTH))
    response.deliverBody(reader)
    return reader.done


class _LimitedReader(StreamProtocol):
    def __init__(self, limit: int, length: Any) -> None:
        # Cancelled (the attempt timed out mid-answer): drop the connection, or a backend that
        # trickles its answer keeps it open after the attempt has been given up on.
        self.done: Deferred[bytes] = Deferred(lambda _: self._stop())
        self._limit = limit
        self._length = length
        self._parts: list[bytes] = []
        self._size = 0

    def connectionMade(self) -> None:
        if isinstance(self._length, int) and self._length > self._limit:
            self._too_long()

    def dataReceived(self, data: bytes) -> None:
        if self.done.called:
            return
        self._size += len(data)
        if self._size > self._limit:
            self._too_long()
            return
        self._parts.append(data)

    def _too_long(self) -> None:
        self._parts.clear()
        self.done.errback(BackendRefused(f"answer longer than {self._limit // 1024} KiB"))
        cast(IPushProducer, self.transport).stopProducing()  # what deliverBody connects us to

    def _stop(self) -> None:
        self._parts.clear()
        if self.transport is not None:
            cast(IPushProducer, self.transport).stopProducing()  # as in _too_long

    def connectionLost(self, reason: Failure = ResponseDone) -> None:  # type: ignore[assignment]
        if self.done.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self._parts))
        else:
            self.done.errback(reason)


def _timed_out(result: Any, timeout: float) -> Any:
    """The attempt was cancelled by its timeout: say so, whatever treq made of the cancel."""
    raise TimeoutError(f"no answer within {timeout:g} s")


def _cancelled(error: Exception) -> bool:
    """Whether treq failed the request because it was cancelled (not by the timeout)."""
    reasons = getattr(error, "reasons", [])
    return isinstance(error, ResponseNeverReceived) and bool(reasons) and all(
        r.check(CancelledError) for r in reasons)


def _result_of(error: Exception) -> str:
    if isinstance(error, BackendRefused):
        return "refused"
    if isinstance(error, TimeoutError):
        return "timeout"
    return "error"


def _describe(error: Exception) -> str:
    if isinstance(error, BackendRefused):
        return str(error)
    if isinstance(error, TimeoutError):
        return "no answer within the attempt timeout"
    return f"{type(error).__name__}: {error}"

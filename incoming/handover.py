"""Telling the web-app backend about an upload: the callback of DESIGN.md §3.

``POST <signalFinishURL>`` with form values ``id``, ``filename``,
``filenameFromBrowser``, ``size``, ``sha256``, ``cancelled``, ``cancelReason``
and ``backendSecret``. For a finished upload the backend answers ``done`` or
``wait``; for a cancel any 2xx will do. Every other outcome — a network
error, a timeout, another status, another body — is retried with a doubling
delay until the deadline; only then does the handover fail. The caller never
deletes the file while :meth:`Handover.deliver` may still succeed.
"""

from __future__ import annotations

import random
from typing import Any, Protocol

import attrs
import treq
from twisted.internet.defer import CancelledError, Deferred, TimeoutError, inlineCallbacks
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from incoming.errors import ErrorCode, IncomingError
from incoming.tickets import Ticket

ANSWERS = ("done", "wait")


class HTTPClient(Protocol):
    """The part of treq's HTTPClient we use (``treq.testing.StubTreq`` fits too)."""

    def post(self, url: str, data: Any = None, **kwargs: Any) -> Deferred[Any]: ...


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


def callback_form(ticket: Ticket) -> list[tuple[str, str]]:
    cancelled = ticket.cancelled_by != ""
    return [
        ("id", ticket.id),
        ("filename", "" if cancelled else ticket.path),
        ("filenameFromBrowser", ticket.filename_from_browser),
        ("size", str(ticket.size if ticket.size is not None else 0)),
        ("sha256", "" if cancelled else ticket.sha256),
        ("cancelled", "yes" if cancelled else "no"),
        ("cancelReason", ticket.cancel_reason),
        ("backendSecret", ticket.backend_secret),
    ]


class Handover:
    log = Logger()

    def __init__(self, http: HTTPClient, clock: IReactorTime, policy: RetryPolicy,
                 rng: random.Random | None = None) -> None:
        self._http = http
        self._clock = clock
        self._policy = policy
        self._rng = rng or random.Random()

    def deliver(self, ticket: Ticket, since: float) -> Deferred[str]:
        """Call the backend until it accepts; fires with ``done``/``wait`` (``ok`` for a cancel).

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
            try:
                answer = yield self._attempt(ticket).addTimeout(timeout, self._clock)
            except CancelledError:
                raise
            except Exception as e:
                last_problem = _describe(e)
                self.log.info("callback for ticket {id} failed (attempt {n}): {problem}",
                              id=ticket.id, n=attempt, problem=last_problem)
            else:
                return answer
            pause = min(self._policy.delay(attempt, self._rng), deadline - self._clock.seconds())
            if pause > 0:
                yield deferLater(self._clock, pause)
        raise IncomingError(ErrorCode.HANDOVER_FAILED,
                            f"the backend did not accept the upload in time: {last_problem}")

    @inlineCallbacks
    def _attempt(self, ticket: Ticket) -> Any:
        response = yield self._http.post(ticket.signal_finish_url, data=callback_form(ticket))
        body = yield treq.text_content(response, encoding="utf-8")
        if not 200 <= response.code < 300:
            raise BackendRefused(f"HTTP {response.code}")
        if ticket.cancelled_by:
            return "ok"
        answer = body.strip().lower()
        if answer not in ANSWERS:
            raise BackendRefused(f"answer {body[:60]!r} is neither 'done' nor 'wait'")
        return answer


def _describe(error: Exception) -> str:
    if isinstance(error, BackendRefused):
        return str(error)
    if isinstance(error, TimeoutError):
        return "no answer within the attempt timeout"
    return f"{type(error).__name__}: {error}"

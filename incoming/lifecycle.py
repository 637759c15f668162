"""The steps of a ticket's life, as an operator sees them: log events and metrics.

:class:`Lifecycle` is the one place that turns a step (created, connected,
stored, handed over, finished, cancelled, …) into one structured
``twisted.logger`` event and the matching metric updates, so the two never
disagree. The office calls it at each step; the handover calls
:meth:`Lifecycle.attempted` once per callback attempt (it is the
``observer``).

Every event has the fields ``event`` (the step) and ``ticket`` (the first
eight characters of the ticket ID), plus the figures of that step. A ticket
ID is a capability — whoever has it may upload — so the whole ID is never
logged, and neither is the backend secret. There is no event per chunk.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger, LogLevel

from incoming.errors import IncomingError
from incoming.metrics import Metrics
from incoming.tickets import State, Ticket

SHORT_ID = 8
MAX_TEXT = 200
"""Reasons and details from outside (a user's cancel reason, an HTTP error) are cut here."""


def short_id(ticket_id: str) -> str:
    """The ID's first eight characters: enough to follow a ticket, too few to use it.

    Only URL-safe characters are kept: an unknown ID comes from the client and
    may hold anything, line breaks included.
    """
    return "".join(c for c in ticket_id[:SHORT_ID] if c.isascii() and (c.isalnum() or c in "-_"))


def one_line(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` without control characters, cut to ``limit``: a log event is one line."""
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 1] + "…"


class Lifecycle:
    """Logs each step of each ticket and updates the metrics to match."""

    log = Logger(namespace="incoming.lifecycle")

    def __init__(self, metrics: Metrics, clock: IReactorTime) -> None:
        self.metrics = metrics
        self._clock = clock

    def _emit(self, level: LogLevel, event: str, ticket_id: str, text: str,
              **fields: Any) -> None:
        self.log.emit(level, text, event=event, ticket=short_id(ticket_id), **fields)

    # -- steps of the upload ------------------------------------------------------------------

    def created(self, ticket: Ticket) -> None:
        self._emit(LogLevel.info, "created", ticket.id, "ticket {ticket} created",
                   max_size=ticket.max_size)

    def connected(self, ticket: Ticket, offset: int) -> None:
        """A client's hello was welcomed; starting past 0 bytes is a resume."""
        resumed = offset > 0 and ticket.state.accepts_bytes
        event = "resumed" if resumed else "connected"
        self._emit(LogLevel.info, event, ticket.id,
                   "ticket {ticket} " + event + " at offset {offset} of {size} bytes",
                   offset=offset, size=ticket.size, state=ticket.state.value)

    def refused(self, ticket_id: str, error: IncomingError) -> None:
        """A hello was refused: unknown or closed ticket, too large, shutting down, …"""
        self.metrics.refusals.labels(error=error.code.wire_name).inc()
        self._emit(LogLevel.info, "refused", ticket_id,
                   "hello for ticket {ticket} refused: {error}: {reason}",
                   error=error.code.wire_name, reason=one_line(error.message))

    def paused(self, ticket: Ticket, received: int) -> None:
        self._pause_event("paused" if ticket.state is State.PAUSED else "unpaused",
                          ticket, received)

    def _pause_event(self, event: str, ticket: Ticket, received: int) -> None:
        self._emit(LogLevel.info, event, ticket.id,
                   "ticket {ticket} " + event + " at {bytes} of {size} bytes",
                   bytes=received, size=ticket.size)

    def received(self, count: int) -> None:
        """Bytes written and acknowledged: counted, never logged (that would be per chunk)."""
        if count > 0:
            self.metrics.bytes_received.inc(count)

    def write_failed(self, ticket: Ticket, error: IncomingError) -> None:
        """Bytes could not be written (disk full, I/O error): the client retries; the bytes
        acknowledged before stay. One line per failed connection, not per chunk."""
        self._emit(LogLevel.warn, "write_failed", ticket.id,
                   "ticket {ticket}: writing failed: {error}: {reason}",
                   error=error.code.wire_name, reason=one_line(error.message))

    def stored(self, ticket: Ticket) -> None:
        """Every byte is in; the upload took from the first hello until now."""
        if ticket.started_at > 0:
            seconds = max(0.0, ticket.stored_at - ticket.started_at)
            self.metrics.upload_seconds.observe(seconds)
            self._emit(LogLevel.info, "stored", ticket.id,
                       "ticket {ticket} stored: {size} bytes in {seconds:.1f} s",
                       size=ticket.bytes_received, seconds=seconds)
        else:  # a ticket recorded before started_at existed: the duration is unknown
            self._emit(LogLevel.info, "stored", ticket.id, "ticket {ticket} stored: {size} bytes",
                       size=ticket.bytes_received)

    # -- the handover -------------------------------------------------------------------------

    def attempted(self, ticket: Ticket, attempt: int, result: str, detail: str,
                  seconds: float) -> None:
        """One callback attempt ended (the handover's observer hook); ``result`` is
        ``accepted``, ``refused``, ``error`` or ``timeout``."""
        self.metrics.callbacks.labels(result=result).inc()
        level = LogLevel.info if result == "accepted" else LogLevel.warn
        self._emit(level, "handover_attempt", ticket.id,
                   "ticket {ticket} handover attempt {attempt}: {result} in {seconds:.2f} s"
                   "{detail_text}",
                   attempt=attempt, result=result, seconds=seconds, detail=one_line(detail),
                   detail_text=f" ({one_line(detail)})" if detail else "",
                   cancelled=bool(ticket.cancelled_by))

    def handed_over(self, ticket: Ticket, answer: str) -> None:
        """The backend took the stored file (``done``) or will finish it later (``wait``)."""
        seconds = max(0.0, self._clock.seconds() - ticket.stored_at)
        self.metrics.handover_seconds.observe(seconds)
        self._emit(LogLevel.info, "handed_over", ticket.id,
                   "ticket {ticket} handed over: the backend answered {answer} "
                   "after {seconds:.1f} s", answer=answer, seconds=seconds)

    # -- how it ends --------------------------------------------------------------------------

    def finished(self, ticket: Ticket) -> None:
        seconds = max(0.0, ticket.updated_at - ticket.created_at)
        self.metrics.uploads.labels(outcome="finished").inc()
        self._emit(LogLevel.info, "finished", ticket.id,
                   "ticket {ticket} finished: {size} bytes, {seconds:.1f} s after it was created",
                   size=ticket.bytes_received, seconds=seconds)

    def abandoned(self, ticket: Ticket, received: int) -> None:
        """Cancelled (by the frontend or the backend) or expired; its bytes were removed."""
        if ticket.state is State.EXPIRED:
            self.metrics.uploads.labels(outcome="expired").inc()
            self._emit(LogLevel.info, "expired", ticket.id,
                       "ticket {ticket} expired at {bytes} bytes", bytes=received,
                       size=ticket.size)
            return
        self.metrics.uploads.labels(outcome="cancelled").inc()
        self._emit(LogLevel.info, "cancelled", ticket.id,
                   "ticket {ticket} cancelled by {by} at {bytes} bytes: {reason}",
                   by=ticket.cancelled_by, reason=one_line(ticket.cancel_reason),
                   bytes=received, size=ticket.size)

    def failed(self, ticket: Ticket) -> None:
        """The backend never took the file in time; the file is kept."""
        self.metrics.uploads.labels(outcome="failed").inc()
        self._emit(LogLevel.warn, "failed", ticket.id, "ticket {ticket} failed: {reason}",
                   reason=one_line(ticket.failure), size=ticket.bytes_received)


def default_lifecycle(clock: IReactorTime) -> Lifecycle:
    """Logs, and counts into metrics nobody scrapes: for offices built without observability."""
    return Lifecycle(Metrics(), clock)

"""Error codes shared by the WebSocket upload protocol and the backend HTTP API.

Inside the server, failures are raised as :class:`IncomingError`; at the edges
(a WebSocket ``error`` message, an HTTP error response) they become a code, a
name and a one-line message. ``docs/protocol.rst`` lists the codes for clients.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """A stable number for each way a request can fail (never renumber)."""

    BAD_REQUEST = 1
    UNKNOWN_TICKET = 2
    WRONG_SECRET = 3
    TICKET_CLOSED = 4
    TOO_LARGE = 5
    SIZE_MISMATCH = 6
    CHUNK_TOO_LARGE = 7
    BEYOND_SIZE = 8
    WINDOW_EXCEEDED = 9
    IDLE_TIMEOUT = 10
    TAKEN_OVER = 11
    STORAGE_FAILED = 12
    SHUTTING_DOWN = 13
    WRONG_STATE = 14
    HANDOVER_FAILED = 15
    NOT_FOUND = 16
    UNAUTHORIZED = 17
    REQUEST_TOO_LARGE = 18
    REQUEST_TIMEOUT = 19
    DIGEST_MISMATCH = 20
    STORAGE_FULL = 21

    @property
    def wire_name(self) -> str:
        """The lower-case name used on the wire, e.g. ``unknown_ticket``."""
        return self.name.lower()

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self, 400)

    @property
    def retryable(self) -> bool:
        """Whether a client should connect again (with backoff) after this error."""
        return self in _RETRYABLE


_HTTP_STATUS = {
    ErrorCode.UNKNOWN_TICKET: 404,
    ErrorCode.WRONG_SECRET: 403,
    ErrorCode.TICKET_CLOSED: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.SIZE_MISMATCH: 409,
    ErrorCode.WRONG_STATE: 409,
    ErrorCode.STORAGE_FAILED: 500,
    ErrorCode.SHUTTING_DOWN: 503,
    ErrorCode.HANDOVER_FAILED: 502,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.REQUEST_TOO_LARGE: 413,
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.DIGEST_MISMATCH: 409,
    ErrorCode.STORAGE_FULL: 507,
}

_RETRYABLE = frozenset({ErrorCode.IDLE_TIMEOUT, ErrorCode.STORAGE_FAILED, ErrorCode.SHUTTING_DOWN,
                        ErrorCode.STORAGE_FULL})


class IncomingError(Exception):
    """A failure with a code and a message fit to show to the client."""

    def __init__(self, code: ErrorCode, message: str, state: str | None = None) -> None:
        super().__init__(f"{code.wire_name}: {message}")
        self.code = code
        self.message = message
        self.state = state
        """The ticket's state, when the error is about a ticket the client has no upload of."""
        self.details: dict[str, object] = {}
        """More members for the client's error message (a finished ticket's digest, result)."""

    def as_json(self) -> dict[str, object]:
        return {"code": int(self.code), "name": self.code.wire_name, "message": self.message}

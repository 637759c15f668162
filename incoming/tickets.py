"""A ticket and its lifecycle.

A ticket is the right to upload one file, created by the web-app backend. Its
record is plain data (:class:`Ticket`); :func:`advance` is the one place that
moves it from state to state, so the allowed transitions can be read here::

    created ──▶ uploading ⇄ paused
                    │
                    ▼
                 stored ──▶ handing_over ──▶ waiting_for_backend ──▶ finished
                                  └──────────────────────────────────▶ finished

    created / uploading / paused ──▶ cancelled   (by the frontend, the backend, or the
                                                  server: the client's digest differs)
    created / uploading / paused ──▶ expired     (no activity for ticket_lifetime)
    handing_over                 ──▶ failed      (the backend never took it)

``finished``, ``cancelled``, ``expired`` and ``failed`` are terminal. The
record knows nothing of sockets, files or HTTP.
"""

from __future__ import annotations

import enum
import json
import secrets
from typing import TypedDict, Unpack

import attrs

from incoming.errors import ErrorCode, IncomingError


class State(enum.Enum):
    CREATED = "created"
    """Issued to the backend; no byte has arrived yet."""
    UPLOADING = "uploading"
    """A client said hello; bytes are arriving, or will after a reconnect."""
    PAUSED = "paused"
    """The client paused; the idle timeout does not apply."""
    STORED = "stored"
    """Every byte is written, checked and moved into place."""
    HANDING_OVER = "handing_over"
    """The backend is being called (and retried) with the stored file."""
    WAITING_FOR_BACKEND = "waiting_for_backend"
    """The backend answered ``wait``; it ends this with ``finish_upload``."""
    FINISHED = "finished"
    """The backend took the file. Terminal."""
    CANCELLED = "cancelled"
    """Abandoned by the frontend or the backend; bytes removed. Terminal."""
    EXPIRED = "expired"
    """Not completed within the ticket lifetime; bytes removed. Terminal."""
    FAILED = "failed"
    """The backend never took the file within the handover timeout. Terminal; the file is kept."""

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def accepts_bytes(self) -> bool:
        return self in _RECEIVING


_TERMINAL = frozenset({State.FINISHED, State.CANCELLED, State.EXPIRED, State.FAILED})
_RECEIVING = frozenset({State.CREATED, State.UPLOADING, State.PAUSED})

_ALLOWED: dict[State, frozenset[State]] = {
    State.CREATED: frozenset({State.UPLOADING, State.STORED, State.CANCELLED, State.EXPIRED}),
    State.UPLOADING: frozenset({State.UPLOADING, State.PAUSED, State.STORED, State.CANCELLED,
                                State.EXPIRED}),
    State.PAUSED: frozenset({State.UPLOADING, State.PAUSED, State.STORED, State.CANCELLED,
                             State.EXPIRED}),
    State.STORED: frozenset({State.HANDING_OVER}),
    State.HANDING_OVER: frozenset({State.WAITING_FOR_BACKEND, State.FINISHED, State.FAILED}),
    State.WAITING_FOR_BACKEND: frozenset({State.FINISHED}),
}


def new_ticket_id() -> str:
    """An unguessable, URL-safe ticket ID: 192 bits from the OS's CSPRNG."""
    return secrets.token_urlsafe(24)


@attrs.frozen
class Ticket:
    """Everything known about one upload; persisted by the registry after every change."""

    id: str
    signal_finish_url: str
    backend_secret: str = ""
    remove_file_when_finished: bool = True
    dest_type: str = "file"
    max_size: int | None = None
    state: State = State.CREATED
    size: int | None = None
    """Declared by the first client hello; every later hello must match it."""
    filename_from_browser: str = ""
    bytes_received: int = 0
    """Bytes written when the record was last saved (the live count is in storage)."""
    sha256: str = ""
    path: str = ""
    """Where the complete file is, once stored."""
    client_sha256: str = ""
    """The file's SHA-256 as the client read it (``digest``), once a client sent it."""
    integrity: bool = False
    """A client promised its digest: the file is stored only once it came and matches."""
    result: str = ""
    """What the backend said about the file (JSON text), for the page; empty: nothing."""
    cancelled_by: str = ""
    cancel_reason: str = ""
    backend_told: bool = False
    """Whether the backend has heard of the outcome (finished, cancel or expiry)."""
    failure: str = ""
    created_at: float = 0.0
    started_at: float = 0.0
    """When the first client said hello (0: not yet, or recorded before this field existed)."""
    stored_at: float = 0.0
    """When every byte was in: the handover timeout counts from here, across restarts."""
    updated_at: float = 0.0

    @property
    def needs_attention(self) -> bool:
        """Whether the server still has work to do for it (recovered after a restart)."""
        if self.state in (State.CANCELLED, State.EXPIRED):
            return not self.backend_told
        return not self.state.terminal

    @property
    def awaits_backend(self) -> bool:
        """Whether the backend has yet to hear of it: a handover, or a cancel or expiry
        notice (work that any instance takes over from one that died)."""
        if self.state in (State.STORED, State.HANDING_OVER):
            return True
        return self.state in (State.CANCELLED, State.EXPIRED) and not self.backend_told

    def as_status(self, bytes_received: int) -> dict[str, object]:
        """The ``upload_status`` answer (secrets left out)."""
        return {
            "id": self.id,
            "state": self.state.value,
            "bytesReceived": bytes_received,
            "size": self.size,
            "maxSize": self.max_size,
            "filenameFromBrowser": self.filename_from_browser,
            "filename": self.path,
            "sha256": self.sha256,
            "result": json.loads(self.result) if self.result else None,
            "cancelledBy": self.cancelled_by,
            "cancelReason": self.cancel_reason,
            "failure": self.failure,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


class Changes(TypedDict, total=False):
    """The fields :func:`advance` and :func:`touch` may change besides the state and time."""

    size: int | None
    filename_from_browser: str
    bytes_received: int
    sha256: str
    path: str
    client_sha256: str
    integrity: bool
    result: str
    cancelled_by: str
    cancel_reason: str
    backend_told: bool
    failure: str
    started_at: float
    stored_at: float


def advance(ticket: Ticket, state: State, now: float, **changes: Unpack[Changes]) -> Ticket:
    """Return ``ticket`` moved to ``state``, or raise if that move is not allowed."""
    if state not in _ALLOWED.get(ticket.state, frozenset()):
        raise IncomingError(
            ErrorCode.TICKET_CLOSED if ticket.state.terminal else ErrorCode.WRONG_STATE,
            f"ticket is {ticket.state.value}, it cannot become {state.value}",
        )
    return attrs.evolve(ticket, state=state, updated_at=now, **changes)


def touch(ticket: Ticket, now: float, **changes: Unpack[Changes]) -> Ticket:
    """Return ``ticket`` with new data but the same state."""
    return attrs.evolve(ticket, updated_at=now, **changes)

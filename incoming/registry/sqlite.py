"""The default registry: one SQLite file beside the stored uploads.

Statements run on the reactor thread. That is deliberate: records change a
handful of times per upload (never per chunk), and in WAL mode with
``synchronous=NORMAL`` a commit does not wait for the disk, so each call costs
microseconds — less than handing it to a thread would.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import attrs
from twisted.internet.defer import Deferred, fail, succeed

from incoming.errors import ErrorCode, IncomingError
from incoming.tickets import State, Ticket

if TYPE_CHECKING:
    from incoming.leases import Lease

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY,
    needs_attention INTEGER NOT NULL,
    record TEXT NOT NULL
)
"""


def encode(ticket: Ticket) -> str:
    """The record as JSON text (the Redis registry stores the same)."""
    fields = attrs.asdict(ticket)
    fields["state"] = ticket.state.value
    return json.dumps(fields, sort_keys=True)


def decode(text: str) -> Ticket:
    fields = json.loads(text)
    fields["state"] = State(fields["state"])
    known = {a.name for a in attrs.fields(Ticket)}
    return Ticket(**{k: v for k, v in fields.items() if k in known})


def _registry_error(error: sqlite3.Error) -> IncomingError:
    if isinstance(error, sqlite3.OperationalError) and "full" in str(error):
        return IncomingError(ErrorCode.STORAGE_FULL,
                             "no space left for the ticket database; try again later")
    return IncomingError(ErrorCode.STORAGE_FAILED, f"the ticket database failed: {error}")


class SQLiteRegistry:
    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def save(self, ticket: Ticket, lease: Lease | None = None) -> Deferred[None]:
        """``lease``: unused (one instance, nobody else writes). Fails with error 21 (disk
        full) or 12 when SQLite cannot write: the caller says so to its client, and the
        server stays up."""
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO tickets (id, needs_attention, record) VALUES (?, ?, ?)",
                (ticket.id, int(ticket.needs_attention), encode(ticket)),
            )
        except sqlite3.Error as e:
            return fail(_registry_error(e))
        return succeed(None)

    def load(self, ticket_id: str) -> Deferred[Ticket | None]:
        try:
            row = self._db.execute("SELECT record FROM tickets WHERE id = ?",
                                   (ticket_id,)).fetchone()
        except sqlite3.Error as e:
            return fail(_registry_error(e))
        return succeed(decode(row[0]) if row else None)

    def needing_attention(self) -> Deferred[list[Ticket]]:
        try:
            rows = self._db.execute(
                "SELECT record FROM tickets WHERE needs_attention = 1").fetchall()
        except sqlite3.Error as e:
            return fail(_registry_error(e))
        return succeed([decode(row[0]) for row in rows])

    def awaiting_backend(self) -> Deferred[list[Ticket]]:
        return self.needing_attention().addCallback(_awaiting)

    def close(self) -> None:
        self._db.close()


def _awaiting(tickets: list[Ticket]) -> list[Ticket]:
    return [t for t in tickets if t.awaits_backend]

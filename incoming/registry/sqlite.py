"""The default registry: one SQLite file beside the stored uploads.

Statements run on the reactor thread. That is deliberate: records change a
handful of times per upload (never per chunk), and in WAL mode with
``synchronous=NORMAL`` a commit does not wait for the disk, so each call costs
microseconds — less than handing it to a thread would.
"""

from __future__ import annotations

import json
import sqlite3

import attrs
from twisted.internet.defer import Deferred, succeed

from incoming.tickets import State, Ticket

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY,
    needs_attention INTEGER NOT NULL,
    record TEXT NOT NULL
)
"""


def _encode(ticket: Ticket) -> str:
    fields = attrs.asdict(ticket)
    fields["state"] = ticket.state.value
    return json.dumps(fields, sort_keys=True)


def _decode(text: str) -> Ticket:
    fields = json.loads(text)
    fields["state"] = State(fields["state"])
    known = {a.name for a in attrs.fields(Ticket)}
    return Ticket(**{k: v for k, v in fields.items() if k in known})


class SQLiteRegistry:
    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def save(self, ticket: Ticket) -> Deferred[None]:
        self._db.execute(
            "INSERT OR REPLACE INTO tickets (id, needs_attention, record) VALUES (?, ?, ?)",
            (ticket.id, int(ticket.needs_attention), _encode(ticket)),
        )
        return succeed(None)

    def load(self, ticket_id: str) -> Deferred[Ticket | None]:
        row = self._db.execute("SELECT record FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        return succeed(_decode(row[0]) if row else None)

    def needing_attention(self) -> Deferred[list[Ticket]]:
        rows = self._db.execute("SELECT record FROM tickets WHERE needs_attention = 1").fetchall()
        return succeed([_decode(row[0]) for row in rows])

    def close(self) -> None:
        self._db.close()

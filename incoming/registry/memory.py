"""A registry in a dict: for tests, and for servers that may forget on restart."""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, succeed

from incoming.tickets import Ticket

if TYPE_CHECKING:
    from incoming.leases import Lease


class MemoryRegistry:
    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}

    def save(self, ticket: Ticket, lease: Lease | None = None) -> Deferred[None]:
        self.tickets[ticket.id] = ticket
        return succeed(None)

    def load(self, ticket_id: str) -> Deferred[Ticket | None]:
        return succeed(self.tickets.get(ticket_id))

    def needing_attention(self) -> Deferred[list[Ticket]]:
        return succeed([t for t in self.tickets.values() if t.needs_attention])

    def awaiting_backend(self) -> Deferred[list[Ticket]]:
        return succeed([t for t in self.tickets.values() if t.awaits_backend])

    def close(self) -> None:
        pass

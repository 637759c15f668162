"""Where tickets live between requests and across restarts.

A registry stores :class:`~incoming.tickets.Ticket` records and nothing else;
it knows nothing of uploads, files or HTTP. Every method returns a Deferred so
that a networked registry (Redis, ``redis.py``) fits the same interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from twisted.internet.defer import Deferred

from incoming.tickets import Ticket

if TYPE_CHECKING:
    from incoming.leases import Lease


class Registry(Protocol):
    def save(self, ticket: Ticket, lease: Lease | None = None) -> Deferred[None]:
        """Store ``ticket``, replacing any record with its ID. With a ``lease`` (a registry
        shared by several instances): only while its token is the ticket's newest, else
        fail with error 11 (``incoming/leases.py``)."""

    def load(self, ticket_id: str) -> Deferred[Ticket | None]:
        """The record with this ID, or None."""

    def needing_attention(self) -> Deferred[list[Ticket]]:
        """Every record the server still has work for (``Ticket.needs_attention``)."""

    def awaiting_backend(self) -> Deferred[list[Ticket]]:
        """Every record whose backend has yet to hear of it (``Ticket.awaits_backend``)."""

    def close(self) -> None:
        """Release what the registry holds open."""

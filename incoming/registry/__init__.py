"""Where tickets live between requests and across restarts.

A registry stores :class:`~incoming.tickets.Ticket` records and nothing else;
it knows nothing of uploads, files or HTTP. Every method returns a Deferred so
that a networked registry (Redis, later) fits the same interface.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.defer import Deferred

from incoming.tickets import Ticket


class Registry(Protocol):
    def save(self, ticket: Ticket) -> Deferred[None]:
        """Store ``ticket``, replacing any record with its ID."""

    def load(self, ticket_id: str) -> Deferred[Ticket | None]:
        """The record with this ID, or None."""

    def needing_attention(self) -> Deferred[list[Ticket]]:
        """Every record the server still has work for (``Ticket.needs_attention``)."""

    def close(self) -> None:
        """Release what the registry holds open."""

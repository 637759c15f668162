"""What every face that takes upload bytes shares, whatever its transport.

:class:`WriteBudget` bounds the bytes received but not yet written across every
connection of every face (WebSocket, HTTP), so that a slow disk makes the
server read less from the network instead of holding more in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class WriteBudget:
    """Bounds the bytes received but not yet written (gathered or being written), across
    every connection.

    The window bounds one upload; this bounds them all, so that a slow disk
    under many uploads makes the server read less from the network instead of
    holding more in memory. A connection that pushes the total over the limit
    stops being read until the total is back under half of it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.gathered = 0
        """The part of ``used`` not yet handed to storage."""
        self._held: set[Any] = set()
        self._flushes: dict[Any, Callable[[], None]] = {}

    def take(self, size: int, transport: Any) -> None:
        """Count ``size`` more bytes, gathered by ``transport``'s connection; hold it (stop
        reading it) if that puts the total over the limit.

        Bytes being written come back by themselves; gathered bytes need not:
        a held connection is not read, and a slow client may stop in the middle
        of a message. Should they alone keep the total over half the limit,
        nothing would ever resume, so then every connection hands what it
        gathered to storage at once. Only then: writing everything gathered on
        every hold turned 100 busy uploads' batches into a storm of small writes.
        """
        self.used += size
        self.gathered += size
        if self.used > self.limit and transport not in self._held:
            self._held.add(transport)
            transport.pauseProducing()
        if self._held and self.gathered > self.limit // 2:
            for flush in list(self._flushes.values()):
                flush()

    def handed_over(self, size: int) -> None:
        """``size`` gathered bytes went to storage (or were dropped): they are being written."""
        self.gathered -= size

    def join(self, transport: Any, flush: Callable[[], None]) -> None:
        """A connection that gathers bytes; ``flush`` hands what it gathered to storage."""
        self._flushes[transport] = flush

    def holds(self, transport: Any) -> bool:
        return transport in self._held

    def give_back(self, size: int) -> None:
        self.used -= size
        if self.used <= self.limit // 2 and self._held:
            held, self._held = self._held, set()
            for transport in held:
                transport.resumeProducing()

    def release(self, transport: Any) -> None:
        """Read this connection again now, whatever the total: it is closing, and must hear
        the client's answer to its close (or the closing handshake times out and the
        connection is reset, taking unread messages with it)."""
        if transport in self._held:
            self._held.discard(transport)
            transport.resumeProducing()

    def forget(self, transport: Any) -> None:
        """The connection is gone: nothing to resume, nothing to hand over."""
        self._held.discard(transport)
        self._flushes.pop(transport, None)

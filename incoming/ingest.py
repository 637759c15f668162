"""What every face that takes upload bytes shares, whatever its transport.

:class:`WriteBudget` bounds the bytes received but not yet written across every
connection of every face (WebSocket, HTTP), so that a slow disk makes the
server read less from the network instead of holding more in memory.
:class:`Intake` is one connection's bytes on their way into one upload:
gathered, written in batches, acknowledged. :class:`IdleTimer` ends a
connection that has gone quiet. A face (``upload_protocol.py`` for the
WebSocket) only parses its transport and calls these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure


class WriteBudget:
    """Bounds the bytes received but not yet written (gathered or being written), across
    every connection.

    The window bounds one upload; this bounds them all, so that a slow disk
    under many uploads makes the server read less from the network instead of
    holding more in memory. A connection that pushes the total over the limit
    stops being read until the total is back under half of it.
    """

    def __init__(self, limit: int, clock: IReactorTime | None = None,
                 small_write: int = 0) -> None:
        """``clock`` and ``small_write``: with both, connections hold writes of fewer bytes
        than ``small_write`` back to gather them (:class:`SmallWrites`); otherwise every
        message goes as it ends. The server passes :func:`small_write_for` its window."""
        self.limit = limit
        self.clock = clock if small_write else None
        self.small_write = small_write
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


BATCH_BYTES = 4 << 20
"""While a write is under way, received bytes gather up to this much for the next one.

Each write is a trip to a storage thread and back (a wakeup of the reactor
each way): with the disk busy, fewer and larger writes cost less; with the
disk idle, bytes go at once, at the end of each message."""


SMALL_WRITE = 256 << 10
"""Bytes that are gathered for up to :data:`SMALL_WRITE_DELAY` rather than written as the
message ends (while the disk is idle).

A slow upload (say 16 KiB messages, four a second) would otherwise make one
write per message, and each write costs the same trips to the storage
threads, wakeups of the reactor and an acknowledgement whatever its size:
measured with 1 000 such uploads, that was nearly all of the server's CPU.
Gathered for a second, their bytes go in one write; a fast upload's 1 MiB
messages are past this bound and go at once."""
SMALL_WRITE_DELAY = 1.0
"""Seconds the first of a small write's bytes may wait for more (acks come that much later;
the window, 16 MiB by default, covers a second of any upload that is slow)."""


def small_write_for(window: int) -> int:
    """A write smaller than this waits: :data:`SMALL_WRITE`, or half the window if that is
    less. A client stops at the window until acknowledged; were the window all gathered and
    waiting, every window's worth would cost it :data:`SMALL_WRITE_DELAY`."""
    return min(SMALL_WRITE, window // 2)


class SmallWrites:
    """When gathered bytes go to storage while the disk is idle, for every face: at once
    if the budget's ``small_write`` bytes gathered, or the last of the file (or request
    body), or the budget has no clock; otherwise once the first of them has waited
    :data:`SMALL_WRITE_DELAY` (then ``due`` is called)."""

    def __init__(self, budget: WriteBudget, due: Callable[[], None]) -> None:
        self._clock = budget.clock
        self._enough = budget.small_write
        self._due = due
        self._call: IDelayedCall | None = None
        self._waited = False

    def go_now(self, gathered: int, last: bool) -> bool:
        """Whether ``gathered`` bytes should go now; if not, the wait is on."""
        if self._clock is None or self._waited or last or gathered >= self._enough:
            return True
        if gathered and self._call is None:
            self._call = self._clock.callLater(SMALL_WRITE_DELAY, self._expired)
        return False

    def _expired(self) -> None:
        self._call = None
        self._waited = True  # if a write is under way, they go when it returns
        self._due()

    def reset(self) -> None:
        """What gathered went (or was dropped): nothing waits."""
        self._waited = False
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None


class Intake:
    """One connection's file bytes on their way into one upload, whatever the transport.

    A face lands bytes (:meth:`take`) and says where a message ends
    (:meth:`message_end`); the intake gathers them into batches, hands each
    batch to the upload in order while no other write is under way, and
    reports the acknowledged offset (``on_ack``) once storage has the bytes.
    Its bytes count against the shared :class:`WriteBudget` from the moment
    they land until they are written, so one bound covers every face.

    Offsets, all absolute in the file: everything before ``acked`` is
    written; ``flushed`` is where the batch being written ends; ``received``
    is where the gathered bytes end.

    Small writes wait (when the budget says so, :class:`SmallWrites`): with
    the disk idle, a message's bytes go at its end only if enough have
    gathered or the file is complete; otherwise once the first of them has
    waited :data:`SMALL_WRITE_DELAY`.
    """

    def __init__(self, upload: Any, landing: Any, budget: WriteBudget, holder: Any,
                 on_ack: Callable[[int], None], on_failure: Callable[[Failure], None]) -> None:
        """``holder``: what the budget pauses while over its limit (the face's transport)."""
        self.upload = upload
        self.landing = landing
        self._budget = budget
        self._holder = holder
        self._on_ack = on_ack
        self._on_failure = on_failure
        self.received = self.flushed = self.acked = upload.offset
        self._pending: list[Any] = []
        self._small_writes = SmallWrites(budget, self._waited)
        self.open = True
        budget.join(holder, self.flush)

    def take(self, pieces: list[Any]) -> None:
        """File bytes, landed: gathered, and written in batches."""
        if not self.open:
            return
        size = sum(len(piece) for piece in pieces)
        self._pending.extend(pieces)
        self.received += size
        self._budget.take(size, self._holder)
        if self.received - self.flushed >= BATCH_BYTES:
            self.flush()

    def message_end(self) -> None:
        """A message ended: with no write under way, what was gathered goes now, or (if it
        is small) once it has waited for more."""
        if self.acked == self.flushed:
            self._flush_or_wait()

    def _flush_or_wait(self) -> None:
        if self._small_writes.go_now(self.received - self.flushed,
                                     self.received == self.upload.ticket.size):
            self.flush()

    def _waited(self) -> None:
        if self.acked == self.flushed:
            self.flush()

    def flush(self) -> None:
        """Hand what was gathered to storage."""
        self._small_writes.reset()
        if not self._pending or not self.open:
            return
        pieces, offset, size = self._pending, self.flushed, self.received - self.flushed
        self._pending, self.flushed = [], self.received
        self._budget.handed_over(size)
        try:
            written = self.upload.write(offset, pieces, self.landing)
        except Exception:  # noqa: BLE001 — refused, or a bug: either way the bytes are not
            # being written (the landing keeps their buffers, released on close), and this
            # connection, not whichever one's read made it flush, must end.
            self._budget.give_back(size)
            self._on_failure(Failure())
            return
        written.addBoth(passing(self._budget.give_back, size))
        written.addCallbacks(self._written, self._failed)

    def _written(self, offset: int) -> None:
        if not self.open:
            return
        if offset > self.acked:
            self.acked = offset
            self._on_ack(offset)
        if self.acked == self.flushed:
            self._flush_or_wait()  # what gathered meanwhile

    def _failed(self, failure: Failure) -> None:
        if self.open:
            self._on_failure(failure)

    def drop_gathered(self) -> None:
        """Forget bytes gathered but not handed to storage (their buffers stay in the landing
        until it is released), and give back their count in the write budget."""
        dropped = self.received - self.flushed
        self._pending, self.received = [], self.flushed
        self._budget.handed_over(dropped)
        self._budget.give_back(dropped)

    def close(self) -> None:
        """The face is done: nothing more is written or acknowledged; what was gathered goes
        (at once: a closing handshake may take seconds, the budget must not wait for it)."""
        self.drop_gathered()
        self._small_writes.reset()
        self.open = False


def passing(action: Callable[..., Any], *args: Any) -> Callable[[Any], Any]:
    """A callback that does ``action(*args)`` and hands on the result (or failure) untouched."""
    def callback(result: Any) -> Any:
        action(*args)
        return result
    return callback


class IdleTimer:
    """Ends a connection that sends nothing for ``timeout`` seconds, unless it is excused
    (paused, or waiting for the server: the disk, the handover)."""

    def __init__(self, clock: IReactorTime, timeout: float, excused: Callable[[], bool],
                 on_idle: Callable[[], None]) -> None:
        self._clock = clock
        self.timeout = timeout
        self._excused = excused
        self._on_idle = on_idle
        self._last = clock.seconds()
        self._call: IDelayedCall | None = None

    def start(self) -> None:
        self.activity()
        self._arm(self.timeout)

    def activity(self) -> None:
        self._last = self._clock.seconds()

    def stop(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _arm(self, delay: float) -> None:
        self._call = self._clock.callLater(delay, self._check)

    def _check(self) -> None:
        quiet_for = self._clock.seconds() - self._last
        if self._excused():
            self._arm(self.timeout)  # looked at again a whole timeout later
        elif quiet_for < self.timeout:
            self._arm(self.timeout - quiet_for)
        else:
            self._call = None
            self._on_idle()

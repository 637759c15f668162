"""One writer per ticket across instances: leases with fencing tokens.

Several instances may share one registry (Redis) and one storage. Whatever an
instance does to a ticket — take its bytes, store it, hand it over, end it — it
does while it holds the ticket's *lease*. Each acquisition draws the next
*fencing token* of the ticket (monotonic, kept in the shared store), so that a
writer that lost its lease can be told apart from the current one::

    instance A                 shared store                 instance B
    acquire T ───────────────▶ token 7, holder A
    writes, renews every ttl/3
                                       ◀──────────────────── acquire T (a newer client)
                               token 8, holder B
    ◀──────── "taken T" ────── (publish)
    stops writing, closes the
    connection and the file
    ──────── "released T" ───▶ (publish) ──────────────────▶ opens the file, goes on

The new holder waits for the old one's ``released`` — or, if it never comes
(the old instance is dead, stopped or cut off), for the rest of the old
lease's time — before it touches the file. So a holder may write without
asking anyone for as long as its lease is sure to run (``SURE_FOR`` of
``lease_time`` from the moment it asked for the lease or its renewal, both
measured on its own clock); past that, it extends the lease in the shared
store before its next write batch, and a stale token makes it refuse the write
(:meth:`Leases.holds`). The registry refuses a save whose token is stale too,
so a writer that missed the message can neither append nor change the ticket.
An instance that dies stops renewing: its leases lapse after ``lease_time``,
and the others' sweeps take over its tickets.

:class:`Leases` is what the office uses; it runs over a :class:`LeaseStore`
(:class:`MemoryLeaseStore` in one process, ``registry/redis.py``'s
``RedisLeaseStore`` across instances). :class:`SoleLeases` serves a single
instance with a local registry: every lease is granted at once and never lost.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Protocol

import attrs
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from incoming.lifecycle import short_id

SURE_FOR = 2 / 3
"""The part of ``lease_time``, counted from when a lease was asked for or last renewed,
during which its holder writes without checking: renewals come every third, so a live
holder checks nothing, and an instance that stalls (or was stopped) checks first. The rest
(a third) is the margin for a write already under way and for clocks that run apart."""


@attrs.frozen
class Lease:
    """The right to change one ticket, as drawn by one instance."""

    ticket_id: str
    token: int
    """The fencing token: greater than every token drawn for this ticket before."""


@attrs.frozen
class Taken:
    """What the store answers to :meth:`LeaseStore.take`."""

    token: int
    """0: not taken (``only_if_free`` and another instance holds it)."""
    previous: str = ""
    """The instance whose live lease this replaced ('' if none, or this instance)."""
    remaining: float = 0.0
    """Seconds the previous lease had left."""


class LeaseStore(Protocol):
    """The shared part: tokens, leases with expiry, locks, and messages between instances."""

    def take(self, ticket_id: str, holder: str, ttl: float,
             only_if_free: bool) -> Deferred[Taken]:
        """Draw the next token and make ``holder`` the lease's holder for ``ttl`` seconds."""

    def extend(self, holder: str, leases: list[Lease], ttl: float) -> Deferred[list[Lease]]:
        """Extend every lease whose token is still the newest; the others (lost)."""

    def drop(self, holder: str, lease: Lease) -> Deferred[None]:
        """End the lease now, if its token is still the newest."""

    def free(self, ticket_ids: list[str]) -> Deferred[list[str]]:
        """Those of ``ticket_ids`` whose lease nobody holds (never taken, released, lapsed)."""

    def lock(self, name: str, holder: str, ttl: float) -> Deferred[bool]:
        """Whether ``holder`` got the lock ``name`` for ``ttl`` seconds (nobody else had it)."""

    def tell(self, holder: str, message: str) -> Deferred[None]:
        """Send ``message`` to the instance ``holder`` (lost if nobody listens)."""

    def listen(self, holder: str, receive: Callable[[str], None]) -> None:
        """Call ``receive`` with each message sent to ``holder``, on the reactor thread."""


_instance_numbers = itertools.count(1)


class Leases:
    """One instance's leases: acquiring (and taking over), checking, renewing, releasing.

    ``on_lost(ticket_id, why)`` is called when the instance learns that another
    one took a lease it held (a ``taken`` message, a failed renewal, a stale
    check; ``why`` is ``client`` when a newer connection took it, else empty);
    the office then stops the ticket's writer and calls :meth:`lost_done`,
    which tells the new holder it may go on.
    """

    log = Logger()
    shared = True
    """Other instances may hold leases on the same tickets."""

    def __init__(self, store: LeaseStore, clock: IReactorTime, holder: str,
                 ttl: float) -> None:
        self.store = store
        self.clock = clock
        self.holder = holder
        self.ttl = ttl
        self.held: dict[str, Lease] = {}
        self.sure_until: dict[str, float] = {}
        """ticket ID → until when (this instance's clock) nobody else can have taken it."""
        self.on_lost: Callable[[str, str], None] = lambda ticket_id, why: None
        self._waiting: dict[str, tuple[Deferred[None], IDelayedCall]] = {}
        self._owed: dict[str, str] = {}
        """ticket ID → the instance to tell once the ticket's writer has stopped."""
        store.listen(holder, self._received)

    # -- acquiring ------------------------------------------------------------------------------

    def acquire(self, ticket_id: str, only_if_free: bool = False,
                why: str = "") -> Deferred[Lease | None]:
        """Take the ticket's lease, from whoever holds it; fires once this instance may write
        (the previous holder stopped, or its lease ran out). ``only_if_free``: None if
        another instance holds it (a sweep must not take a ticket that is being served).
        ``why``: ``client`` when a client connected (the old one is told it was taken over)."""
        asked = self.clock.seconds()
        taken = self.store.take(ticket_id, self.holder, self.ttl, only_if_free)
        return taken.addCallback(self._taken, ticket_id, why, asked)

    def _taken(self, taken: Taken, ticket_id: str, why: str,
               asked: float) -> Deferred[Lease | None]:
        if not taken.token:
            return succeed(None)
        lease = Lease(ticket_id, taken.token)
        self.held[ticket_id] = lease
        self.sure_until[ticket_id] = asked + self.ttl * SURE_FOR
        if not taken.previous:
            return succeed(lease)
        self.log.info("ticket {ticket}: taking over from instance {previous}",
                      ticket=short_id(ticket_id), previous=taken.previous)
        stopped = self._wait_for_release(ticket_id, taken.remaining)
        self.store.tell(taken.previous, f"taken {ticket_id} {self.holder} {why or '-'}").addErrback(
            lambda f: None)  # undelivered: the wait ends when its lease runs out
        return stopped.addCallback(lambda _: lease)

    def _wait_for_release(self, ticket_id: str, remaining: float) -> Deferred[None]:
        done: Deferred[None] = Deferred()
        timer = self.clock.callLater(max(remaining, 0.0), self._released, ticket_id)
        self._waiting[ticket_id] = (done, timer)
        return done

    def _released(self, ticket_id: str) -> None:
        waiting = self._waiting.pop(ticket_id, None)
        if waiting is None:
            return
        done, timer = waiting
        if timer.active():
            timer.cancel()
        done.callback(None)

    # -- while held -----------------------------------------------------------------------------

    def holds(self, lease: Lease) -> Deferred[bool]:
        """Whether this instance may still write for ``lease``: at once while the lease is
        sure to run, else once extended in the shared store (False: another instance took
        the ticket; it is then lost here)."""
        if self.held.get(lease.ticket_id) != lease:
            return succeed(False)
        if self.clock.seconds() < self.sure_until.get(lease.ticket_id, 0.0):
            return succeed(True)
        asked = self.clock.seconds()
        extended = self.store.extend(self.holder, [lease], self.ttl)
        return extended.addCallback(self._checked, lease, asked)

    def _checked(self, lost: list[Lease], lease: Lease, asked: float) -> bool:
        if self.held.get(lease.ticket_id) != lease:
            return False
        if not lost:
            self.sure_until[lease.ticket_id] = asked + self.ttl * SURE_FOR
            return True
        self._lose(lease.ticket_id, "", "")
        return False

    def renew(self) -> Deferred[None]:
        """Extend every lease held (one round trip); those another instance took are lost.
        Run every ``ttl / 3``; never fails."""
        if not self.held:
            return succeed(None)
        leases = list(self.held.values())
        extended = self.store.extend(self.holder, leases, self.ttl)
        renewed = extended.addCallback(self._renewed, leases, self.clock.seconds())
        return renewed.addErrback(lambda f: self.log.warn(
            "renewing leases failed: {error}", error=f.getErrorMessage()))

    def _renewed(self, lost: list[Lease], leases: list[Lease], asked: float) -> None:
        for lease in leases:
            if self.held.get(lease.ticket_id) != lease:
                continue  # released or taken meanwhile
            if lease in lost:
                self._lose(lease.ticket_id, "", "")
            else:
                self.sure_until[lease.ticket_id] = asked + self.ttl * SURE_FOR

    def release(self, lease: Lease | None) -> Deferred[None]:
        """This instance is done with the ticket (for now): others may take it at once.
        Never fails (a lease not released lapses)."""
        if lease is None or self.held.get(lease.ticket_id) != lease:
            return succeed(None)
        del self.held[lease.ticket_id]
        self.sure_until.pop(lease.ticket_id, None)
        return self.store.drop(self.holder, lease).addErrback(lambda f: self.log.warn(
            "releasing the lease of ticket {ticket} failed: {error}",
            ticket=short_id(lease.ticket_id), error=f.getErrorMessage()))

    def release_all(self) -> Deferred[None]:
        """Shutting down: every lease goes, so other instances need not wait for them."""
        released = [self.release(lease) for lease in list(self.held.values())]
        return DeferredList(released).addCallback(lambda _: None)

    def free(self, ticket_ids: Iterable[str]) -> Deferred[list[str]]:
        wanted = [t for t in ticket_ids if t not in self.held]
        return self.store.free(wanted) if wanted else succeed([])

    def lock(self, name: str, ttl: float) -> Deferred[bool]:
        return self.store.lock(name, self.holder, ttl)

    # -- losing ---------------------------------------------------------------------------------

    def _received(self, message: str) -> None:
        words = message.split()
        if len(words) == 4 and words[0] == "taken":
            self._lose(words[1], words[2], words[3].strip("-"))
        elif len(words) == 2 and words[0] == "released":
            self._released(words[1])

    def _lose(self, ticket_id: str, new_holder: str, why: str) -> None:
        if new_holder == self.holder:
            return  # our own, older acquisition (two connections here): nothing to stop
        if new_holder:
            self._owed[ticket_id] = new_holder
        self.sure_until.pop(ticket_id, None)
        if self.held.pop(ticket_id, None) is None and not new_holder:
            return
        self.log.info("ticket {ticket}: lease lost to another instance",
                      ticket=short_id(ticket_id))
        self.on_lost(ticket_id, why)

    def lost_done(self, ticket_id: str) -> None:
        """The ticket's writer here has stopped: the new holder may go on."""
        new_holder = self._owed.pop(ticket_id, "")
        if new_holder:
            self.store.tell(new_holder, f"released {ticket_id}").addErrback(lambda f: None)


class SoleLeases:
    """One instance with its own registry: every lease is granted at once and never lost."""

    shared = False

    def __init__(self) -> None:
        self._tokens = itertools.count(1)
        self.on_lost: Callable[[str, str], None] = lambda ticket_id, why: None

    def acquire(self, ticket_id: str, only_if_free: bool = False,
                why: str = "") -> Deferred[Lease | None]:
        return succeed(Lease(ticket_id, next(self._tokens)))

    def holds(self, lease: Lease) -> Deferred[bool]:
        return succeed(True)

    def renew(self) -> Deferred[None]:
        return succeed(None)

    def release(self, lease: Lease | None) -> Deferred[None]:
        return succeed(None)

    def release_all(self) -> Deferred[None]:
        return succeed(None)

    def free(self, ticket_ids: Iterable[str]) -> Deferred[list[str]]:
        return succeed(list(ticket_ids))

    def lock(self, name: str, ttl: float) -> Deferred[bool]:
        return succeed(True)

    def lost_done(self, ticket_id: str) -> None:
        pass


class MemoryLeaseStore:
    """A :class:`LeaseStore` in this process: for unit tests (several :class:`Leases` on one
    store stand for several instances) and as the model of the Redis one."""

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self.tokens: dict[str, int] = {}
        self.leases: dict[str, tuple[str, float]] = {}
        """ticket ID → (holder, expires at)."""
        self.locks: dict[str, tuple[str, float]] = {}
        self.listeners: dict[str, Callable[[str], None]] = {}
        self.commands = 0

    def _live(self, table: dict[str, tuple[str, float]], key: str) -> str:
        entry = table.get(key)
        if entry is None or entry[1] <= self.clock.seconds():
            table.pop(key, None)
            return ""
        return entry[0]

    def take(self, ticket_id: str, holder: str, ttl: float,
             only_if_free: bool) -> Deferred[Taken]:
        self.commands += 1
        current = self._live(self.leases, ticket_id)
        other = current if current != holder else ""
        if other and only_if_free:
            return succeed(Taken(0))
        remaining = self.leases[ticket_id][1] - self.clock.seconds() if other else 0.0
        token = self.tokens[ticket_id] = self.tokens.get(ticket_id, 0) + 1
        self.leases[ticket_id] = (holder, self.clock.seconds() + ttl)
        return succeed(Taken(token, other, remaining))

    def extend(self, holder: str, leases: list[Lease], ttl: float) -> Deferred[list[Lease]]:
        self.commands += 1
        lost = []
        for lease in leases:
            if self.tokens.get(lease.ticket_id) == lease.token:
                self.leases[lease.ticket_id] = (holder, self.clock.seconds() + ttl)
            else:
                lost.append(lease)
        return succeed(lost)

    def drop(self, holder: str, lease: Lease) -> Deferred[None]:
        self.commands += 1
        if self.tokens.get(lease.ticket_id) == lease.token:
            self.leases.pop(lease.ticket_id, None)
        return succeed(None)

    def free(self, ticket_ids: list[str]) -> Deferred[list[str]]:
        self.commands += 1
        return succeed([t for t in ticket_ids if not self._live(self.leases, t)])

    def lock(self, name: str, holder: str, ttl: float) -> Deferred[bool]:
        self.commands += 1
        if self._live(self.locks, name):
            return succeed(False)
        self.locks[name] = (holder, self.clock.seconds() + ttl)
        return succeed(True)

    def tell(self, holder: str, message: str) -> Deferred[None]:
        self.commands += 1
        receive = self.listeners.get(holder)
        if receive is not None:
            self.clock.callLater(0, receive, message)
        return succeed(None)

    def listen(self, holder: str, receive: Callable[[str], None]) -> None:
        self.listeners[holder] = receive


def instance_name(hostname: str, pid: int) -> str:
    """A name for this instance, unique among those sharing a store (and readable in logs)."""
    return f"{hostname}:{pid}:{next(_instance_numbers)}"

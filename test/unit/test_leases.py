"""Leases and fencing tokens across instances, on an in-memory store and a Clock."""

from __future__ import annotations

from incoming.leases import Lease, Leases, MemoryLeaseStore
from test.support.doubles import clock_at, fired

TTL = 2.0


def instances(*names, ttl=TTL):
    clock = clock_at()
    store = MemoryLeaseStore(clock)
    made = []
    for name in names:
        leases = Leases(store, clock, name, ttl)
        leases.lost = []
        leases.on_lost = lambda ticket_id, why, leases=leases: leases.lost.append((ticket_id, why))
        made.append(leases)
    return clock, store, made


def test_a_free_lease_is_granted_at_once_with_a_growing_token():
    """Acquiring a lease nobody holds fires at once; each acquisition draws a greater token."""
    clock, store, (a,) = instances("a")
    first = fired(a.acquire("T"))
    second = fired(a.acquire("T"))
    assert first == Lease("T", 1) and second == Lease("T", 2)
    assert a.lost == [], "a newer acquisition by the same instance loses nothing"


def test_a_takeover_waits_until_the_old_holder_has_stopped():
    """A newer client on another instance takes the lease: the old holder hears why, and the
    new one may write only once the old one says it has stopped."""
    clock, store, (a, b) = instances("a", "b")
    held = fired(a.acquire("T"))
    taking = b.acquire("T", why="client")
    clock.advance(0)  # the message arrives
    assert a.lost == [("T", "client")]
    assert fired(taking) is None, "the old holder may still be writing"
    a.lost_done("T")
    clock.advance(0)
    lease = fired(taking)
    assert lease.token > held.token
    assert fired(a.holds(held)) is False and fired(b.holds(lease)) is True


def test_a_silent_old_holder_is_waited_for_only_until_its_lease_runs_out():
    """An old holder that never answers (dead, or cut off) holds up the new one for the rest
    of its lease, no longer."""
    clock, store, (a, b) = instances("a", "b")
    fired(a.acquire("T"))
    store.listeners.pop("a")  # a is dead: nobody hears its messages
    clock.advance(0.5)
    taking = b.acquire("T")
    clock.advance(TTL - 0.5 - 0.01)
    assert fired(taking) is None
    clock.advance(0.02)
    assert fired(taking).token == 2


def test_a_writer_that_missed_the_message_learns_at_its_next_check():
    """A holder writes unchecked only while its lease is sure to run (the new holder waits
    at least that long); after that its check goes to the store, which refuses a stale
    token, and the instance counts the lease as lost."""
    clock, store, (a, b) = instances("a", "b")
    old = fired(a.acquire("T"))
    store.listeners.pop("a")
    taking = b.acquire("T")
    clock.advance(TTL * 2 / 3 - 0.01)
    commands = store.commands
    assert fired(a.holds(old)) is True and store.commands == commands
    assert fired(taking) is None, "b has not begun: a's unchecked writes are safe"
    clock.advance(0.02)
    assert fired(a.holds(old)) is False
    assert a.lost == [("T", "")] and "T" not in a.held


def test_renewed_leases_last_and_a_dead_instances_lapse():
    """Renewing keeps a lease past its time; one that is not renewed lapses and is free."""
    clock, store, (a, b) = instances("a", "b")
    fired(a.acquire("kept"))
    fired(b.acquire("dead"))
    for _ in range(6):
        clock.advance(TTL / 3)
        a.renew()  # b died: it renews nothing
    assert fired(a.free(["kept", "dead"])) == ["dead"]
    assert fired(a.acquire("kept", only_if_free=False)) is not None
    assert fired(a.acquire("dead", only_if_free=True)).token == 2


def test_a_sweep_does_not_take_a_lease_that_is_held():
    """only_if_free leaves a live lease alone (its holder is serving the ticket)."""
    clock, store, (a, b) = instances("a", "b")
    fired(a.acquire("T"))
    assert fired(b.acquire("T", only_if_free=True)) is None
    assert a.lost == []


def test_renewal_reports_a_lease_taken_meanwhile():
    """A renewal finds the leases another instance took and reports them lost."""
    clock, store, (a, b) = instances("a", "b")
    fired(a.acquire("T"))
    store.listeners.pop("a")
    b.acquire("T")
    a.renew()
    assert a.lost == [("T", "")]


def test_released_leases_are_free_at_once():
    """A released lease (a client went away, a shutdown) is free without waiting."""
    clock, store, (a, b) = instances("a", "b")
    lease = fired(a.acquire("T"))
    fired(a.release(lease))
    assert fired(b.free(["T"])) == ["T"]
    assert fired(b.acquire("T", only_if_free=True)) is not None


def test_the_janitor_lock_goes_to_one_instance_at_a_time():
    """A named lock is held by one instance until it expires."""
    clock, store, (a, b) = instances("a", "b")
    assert fired(a.lock("janitor", 10)) is True
    assert fired(b.lock("janitor", 10)) is False
    clock.advance(10)
    assert fired(b.lock("janitor", 10)) is True

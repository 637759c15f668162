"""Two ticket offices sharing a registry, a storage directory and a lease store, as two
instances behind a load balancer do: one writer per ticket, takeovers, and the work of an
instance that died."""

from __future__ import annotations

import os

import pytest

from incoming.errors import ErrorCode, IncomingError
from incoming.leases import Leases, MemoryLeaseStore
from incoming.office import Hello
from incoming.registry.memory import MemoryRegistry
from incoming.tickets import State
from test.support.doubles import clock_at, fired
from test.support.harness import SMALL, Server

TTL = 2.0
CONFIG = SMALL


class Listener:
    def __init__(self):
        self.errors = []
        self.states = []

    def state_changed(self, ticket):
        self.states.append(ticket.state.value)

    def cancelled(self, by, reason):
        self.states.append("cancelled")

    def failed(self, error):
        self.errors.append(error.code)


class Cluster:
    """Instances ``a`` and ``b``: one clock, registry, storage directory and lease store."""

    def __init__(self, root):
        self.clock = clock_at()
        self.store = MemoryLeaseStore(self.clock)
        self.registry = MemoryRegistry()
        self.root = root
        self.a = self.instance("a")
        self.b = self.instance("b")

    def instance(self, name):
        leases = Leases(self.store, self.clock, name, TTL)
        return Server(self.root, CONFIG, self.clock, registry=self.registry, leases=leases)

    def kill(self, server):
        """The instance dies: it hears nothing more and renews nothing."""
        self.store.listeners.pop(server.office.leases.holder, None)
        server.office.leases.held.clear()


@pytest.fixture
def cluster(tmp_path):
    return Cluster(tmp_path)


def begin(server, ticket_id, size, listener=None):
    upload = fired(server.office.begin(ticket_id, Hello(size=size), listener or Listener()))
    assert upload is not None
    return upload


def test_an_upload_begun_on_one_instance_goes_on_on_another(cluster):
    """A client that reconnects to another instance resumes where its bytes end there; the
    first instance's connection is told it was taken over, and the ticket ends once."""
    ticket = cluster.a.ticket()
    data = os.urandom(3000)
    old_client = Listener()
    on_a = begin(cluster.a, ticket.id, len(data), old_client)
    fired(on_a.write(0, [data[:1000]]))
    taking = cluster.b.office.begin(ticket.id, Hello(size=len(data)), Listener())
    cluster.clock.advance(0)  # a hears "taken", stops, says "released"
    cluster.clock.advance(0)
    on_b = fired(taking)
    assert old_client.errors == [ErrorCode.TAKEN_OVER]
    assert on_b.offset == 1000
    with pytest.raises(IncomingError):
        on_a.write(1000, [data[1000:]])
    fired(on_b.write(1000, [data[1000:]]))
    cluster.clock.advance(0)
    assert cluster.registry.tickets[ticket.id].state is State.HANDING_OVER
    assert len(cluster.b.handover.calls) == 1 and not cluster.a.handover.calls
    cluster.b.handover.answer("done")
    assert cluster.registry.tickets[ticket.id].state is State.FINISHED


def test_a_stale_writer_that_missed_the_takeover_is_refused(cluster):
    """A writer whose lease was taken while it stalled, and who never heard, finds its lease
    no longer sure when it wakes, asks the store before its next write and appends nothing."""
    ticket = cluster.a.ticket()
    on_a = begin(cluster.a, ticket.id, 1000)
    cluster.store.listeners.pop("a")  # the "taken" message will not reach a
    taking = cluster.b.office.begin(ticket.id, Hello(size=1000), Listener())
    cluster.clock.advance(TTL)  # b waits out a's lease (a, stalled, renews nothing)
    on_b = fired(taking)
    assert on_b.offset == 0
    assert refused_code(on_a.write(0, [b"a" * 10])) is ErrorCode.TAKEN_OVER
    assert cluster.b.storage.partial_size(ticket.id) == 0, "the stale writer appended nothing"
    assert fired(on_b.write(0, [b"b" * 10])) == 10


def test_a_live_writer_asks_the_store_nothing_per_write(cluster):
    """While its lease is sure to run (renewed every third of the lease time), a writer
    checks it in memory: writes cost the shared store nothing."""
    ticket = cluster.a.ticket()
    on_a = begin(cluster.a, ticket.id, 1000)
    before = cluster.store.commands
    for n in range(10):
        fired(on_a.write(n * 10, [b"x" * 10]))
        cluster.clock.advance(TTL / 3)
        cluster.a.office.leases.renew()
    assert cluster.store.commands - before == 10, "one renewal each TTL/3, nothing per write"
    assert cluster.a.storage.partial_size(ticket.id) == 100


def refused_code(d):
    """The code of the IncomingError ``d`` failed with (None: it did not fail)."""
    errors = []
    d.addErrback(lambda f: errors.append(f.value.code))
    return errors[0] if errors else None


def test_the_handover_of_a_dead_instance_is_delivered_by_another(cluster):
    """An instance that dies while handing over loses its lease; another instance's next
    round finds the ticket and hands it over."""
    ticket = cluster.a.ticket()
    on_a = begin(cluster.a, ticket.id, 5)
    fired(on_a.write(0, [b"hello"]))
    cluster.clock.advance(0)
    assert len(cluster.a.handover.calls) == 1
    cluster.kill(cluster.a)
    cluster.b.office.recover()
    assert not cluster.b.handover.calls, "the lease has not lapsed yet"
    cluster.clock.advance(TTL)
    cluster.b.office.recover()
    assert len(cluster.b.handover.calls) == 1
    cluster.b.handover.answer("done")
    assert cluster.registry.tickets[ticket.id].state is State.FINISHED


def test_a_cancel_notice_of_a_dead_instance_is_delivered_by_another(cluster):
    """A cancel whose notice a dead instance never got through reaches the backend from
    another instance, once its lease lapsed."""
    ticket = cluster.a.ticket(backend_secret="s")
    fired(cluster.a.office.cancel_by_backend(ticket.id, "s"))
    assert len(cluster.a.handover.calls) == 1  # the notice, unanswered
    cluster.kill(cluster.a)
    cluster.clock.advance(TTL)
    cluster.b.office.recover()
    [(notice, answer)] = cluster.b.handover.calls
    assert notice.state is State.CANCELLED
    cluster.b.handover.answer("done")
    assert cluster.registry.tickets[ticket.id].backend_told


def test_a_backend_call_on_another_instance_takes_the_ticket_over(cluster):
    """finish_upload reaching another instance than the one waiting finishes the ticket
    there; the first instance's client is told to connect again (to hear finished)."""
    ticket = cluster.a.ticket(backend_secret="s")
    client = Listener()
    on_a = begin(cluster.a, ticket.id, 5, client)
    fired(on_a.write(0, [b"hello"]))
    cluster.clock.advance(0)
    cluster.a.handover.answer("wait")
    finishing = cluster.b.office.finish_upload(ticket.id, "s")
    cluster.clock.advance(0)
    cluster.clock.advance(0)
    fired(finishing)
    assert cluster.registry.tickets[ticket.id].state is State.FINISHED
    assert client.errors == [ErrorCode.SHUTTING_DOWN]  # retryable: it comes back and hears


def test_a_wrong_secret_takes_no_lease(cluster):
    """A backend call with a wrong secret is refused without disturbing the instance that
    serves the ticket."""
    ticket = cluster.a.ticket(backend_secret="s")
    client = Listener()
    begin(cluster.a, ticket.id, 5, client)
    refused = cluster.b.office.cancel_by_backend(ticket.id, "wrong")
    cluster.clock.advance(0)
    assert refused_code(refused) is ErrorCode.WRONG_SECRET and client.errors == []


def test_expiry_runs_on_one_instance_at_a_time(cluster):
    """Both instances' janitors run; one takes the lock and expires the abandoned ticket, and
    the backend hears of it once."""
    ticket = cluster.a.ticket()
    cluster.clock.advance(CONFIG.ticket_lifetime + 1)
    fired(cluster.a.office.expire_abandoned())
    fired(cluster.b.office.expire_abandoned())
    assert cluster.registry.tickets[ticket.id].state is State.EXPIRED
    notices = cluster.a.handover.calls + cluster.b.handover.calls
    assert len(notices) == 1
    cluster.store.locks.clear()  # as if the lock expired: the other one runs, finds nothing
    fired(cluster.b.office.expire_abandoned())
    assert len(cluster.a.handover.calls + cluster.b.handover.calls) == 1

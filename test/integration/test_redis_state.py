"""The Redis registry and lease store against a real redis-server (calls run at once on the
test's thread: ImmediateThreads stands in for the pool)."""

from __future__ import annotations

import time

import pytest

from incoming.errors import ErrorCode, IncomingError
from incoming.leases import Lease
from incoming.registry.redis import PREFIX, RedisLeaseStore, RedisRegistry, RedisState
from incoming.tickets import State, Ticket
from test.support.doubles import ImmediateThreads, fired
from test.support.redis_server import RedisServer


@pytest.fixture
def state(redis_server: RedisServer):
    redis_server.client().flushdb()
    threads = ImmediateThreads()
    return RedisState(redis_server.url, threads, pool=threads)


def ticket(ticket_id: str, **changes: object) -> Ticket:
    return Ticket(id=ticket_id, signal_finish_url="http://b.test/done", **changes)  # type: ignore[arg-type]


def test_records_round_trip_and_indexes_follow_the_state(state: RedisState) -> None:
    """A saved record loads back equal; the attention and awaiting indexes hold exactly the
    tickets with work left, without a scan of every key."""
    registry = RedisRegistry(state)
    fired(registry.save(ticket("up", state=State.UPLOADING, size=5, filename_from_browser="ä")))
    fired(registry.save(ticket("st", state=State.STORED)))
    fired(registry.save(ticket("ca", state=State.CANCELLED)))
    fired(registry.save(ticket("fi", state=State.FINISHED)))
    assert fired(registry.load("up")) == ticket("up", state=State.UPLOADING, size=5,
                                                filename_from_browser="ä")
    assert fired(registry.load("nope")) is None
    assert sorted(t.id for t in fired(registry.needing_attention())) == ["ca", "st", "up"]
    assert sorted(t.id for t in fired(registry.awaiting_backend())) == ["ca", "st"]
    fired(registry.save(ticket("ca", state=State.CANCELLED, backend_told=True)))
    assert [t.id for t in fired(registry.awaiting_backend())] == ["st"]


def test_a_save_with_a_stale_lease_is_refused(state: RedisState) -> None:
    """Once another instance drew a newer token, a save carrying the old one changes nothing
    and fails with error 11."""
    registry, store = RedisRegistry(state), RedisLeaseStore(state)
    first = fired(store.take("T", "a", 5.0, False))
    fired(registry.save(ticket("T", state=State.UPLOADING), Lease("T", first.token)))
    second = fired(store.take("T", "b", 5.0, False))
    assert second.token == first.token + 1 and second.previous == "a"
    assert 0 < second.remaining <= 5.0
    refused = registry.save(ticket("T", state=State.STORED), Lease("T", first.token))
    errors: list[IncomingError] = []
    refused.addErrback(lambda f: errors.append(f.value))
    assert [e.code for e in errors] == [ErrorCode.TAKEN_OVER]
    assert fired(registry.load("T")).state is State.UPLOADING
    fired(registry.save(ticket("T", state=State.STORED), Lease("T", second.token)))
    assert fired(registry.load("T")).state is State.STORED


def test_leases_lapse_extend_and_drop(state: RedisState, redis_server: RedisServer) -> None:
    """A lease not extended lapses (free); extending reports those taken meanwhile; dropping
    frees at once; only_if_free leaves a held lease alone; the lock has one holder."""
    store = RedisLeaseStore(state)
    kept = fired(store.take("kept", "a", 0.3, False))
    fired(store.take("lapsing", "a", 0.3, False))
    assert fired(store.take("kept", "b", 5.0, True)).token == 0
    time.sleep(0.15)
    assert fired(store.extend("a", [Lease("kept", kept.token)], 5.0)) == []
    time.sleep(0.3)
    assert fired(store.free(["kept", "lapsing", "never"])) == ["lapsing", "never"]
    taken = fired(store.take("kept", "b", 5.0, False))
    assert fired(store.extend("a", [Lease("kept", kept.token)], 5.0)) == [
        Lease("kept", kept.token)]
    assert redis_server.client().get(PREFIX + "token:kept") == str(taken.token)
    fired(store.drop("b", Lease("kept", taken.token)))
    assert fired(store.free(["kept"])) == ["kept"]
    assert fired(store.lock("janitor", "a", 5.0)) is True
    assert fired(store.lock("janitor", "b", 5.0)) is False
    keys = redis_server.client().keys(PREFIX + "*")
    assert all(k.startswith(PREFIX) for k in keys)


def test_messages_reach_the_instance_they_are_sent_to(redis_server: RedisServer) -> None:
    """A message published for an instance arrives on its listening thread (handed to the
    reactor's callFromThread), not at another instance."""
    threads = ImmediateThreads()
    listening = RedisState(redis_server.url, threads, pool=threads)
    received: list[str] = []
    store = RedisLeaseStore(listening)
    store.listen("b", received.append)
    listening.start()
    try:
        sender = RedisLeaseStore(RedisState(redis_server.url, threads, pool=threads))
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            fired(sender.tell("a", "taken X a -"))
            fired(sender.tell("b", "taken T a client"))
            time.sleep(0.05)
        assert received and set(received) == {"taken T a client"}
    finally:
        listening.stop()

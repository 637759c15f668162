"""Ticket records, leases and messages in Redis, shared by every instance (``--state redis://``).

The client is redis-py, the Redis project's own Python client (the most used
and best kept; TLS for ``rediss://``, connection pools, Lua scripts). Its calls
block, so each one runs in a small thread pool of its own and comes back as a
Deferred: the reactor never waits for Redis. The Twisted-native clients were
considered: txredisapi works but is kept by few hands; txredis is unmaintained.
A round trip costs a thread hop more than it would natively; the office makes
only a handful per upload (never one per chunk), so that costs nothing that
shows (``docs/scaling.rst`` counts them).

Keys, all under ``PREFIX``::

    ticket:<id>    the record (JSON, as in the SQLite registry)
    attention      set: IDs of tickets the server still has work for
    awaiting       set: IDs whose backend has yet to hear (handover or end notice)
    token:<id>     the ticket's newest fencing token (INCR)
    lease:<id>     the instance holding the ticket's lease, expiring (PX)
    lock:<name>    a lock with expiry (the janitor's)
    channel instance:<name>   messages to one instance (``taken``, ``released``)

A save that carries a lease is refused (error 11) unless its token is still
the ticket's newest: a writer that lost its lease cannot change the record.
Operations on one ticket run one after another, in the order they were asked
for, so a later save never lands before an earlier one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from incoming.errors import ErrorCode, IncomingError
from incoming.leases import Lease, Taken
from incoming.registry.sqlite import decode, encode
from incoming.tickets import Ticket

PREFIX = "incoming:"
T = TypeVar("T")

_SAVE = """
-- KEYS: record, attention set, awaiting set, token; ARGV: id, record, attention, awaiting, token
if ARGV[5] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[5] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] == '1' then redis.call('SADD', KEYS[2], ARGV[1])
else redis.call('SREM', KEYS[2], ARGV[1]) end
if ARGV[4] == '1' then redis.call('SADD', KEYS[3], ARGV[1])
else redis.call('SREM', KEYS[3], ARGV[1]) end
return 1
"""

_TAKE = """
-- KEYS: lease, token; ARGV: holder, ttl in ms, only if free ('1')
local current = redis.call('GET', KEYS[1])
local other = ''
local remaining = 0
if current and current ~= ARGV[1] then
  if ARGV[3] == '1' then return {0, '', 0} end
  other = current
  remaining = redis.call('PTTL', KEYS[1])
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {token, other, remaining}
"""

_EXTEND = """
-- KEYS: lease1, token1, lease2, token2, ...; ARGV: holder, ttl in ms, token1, token2, ...
-- Returns the positions (1-based) of the leases lost: their token is not the newest.
local lost = {}
for i = 1, #KEYS / 2 do
  if redis.call('GET', KEYS[2 * i]) == ARGV[i + 2] then
    redis.call('SET', KEYS[2 * i - 1], ARGV[1], 'PX', ARGV[2])
  else
    table.insert(lost, i)
  end
end
return lost
"""

_DROP = """
-- KEYS: lease, token; ARGV: holder, token
if redis.call('GET', KEYS[2]) == ARGV[2] and redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 1
"""


def _failed(error: redis.RedisError) -> IncomingError:
    return IncomingError(ErrorCode.STORAGE_FAILED, f"the shared state (Redis) failed: {error}")


class RedisState:
    """The connection to one Redis: its thread pool, the per-ticket order of calls, and the
    thread that receives messages for this instance."""

    log = Logger()

    def __init__(self, url: str, reactor: IReactorFromThreads, threads: int = 4,
                 pool: Any = None) -> None:
        """Raises ValueError for a URL redis-py cannot read (nothing connects yet).
        ``pool``: where calls run (default: a ThreadPool of ``threads``, started by
        :meth:`start`)."""
        self.url = url
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10,
                                           socket_connect_timeout=5, health_check_interval=30)
        self.reactor = reactor
        self._own_pool = pool is None
        self.pool = pool or ThreadPool(minthreads=1, maxthreads=threads, name="incoming-redis")
        self._tails: dict[str, Deferred[None]] = {}
        self._stopping = threading.Event()
        self._listening: tuple[str, Callable[[str], None]] | None = None
        self.save_script = self.client.register_script(_SAVE)
        self.take_script = self.client.register_script(_TAKE)
        self.extend_script = self.client.register_script(_EXTEND)
        self.drop_script = self.client.register_script(_DROP)

    def start(self) -> None:
        if self._own_pool:
            self.pool.start()
        if self._listening is not None:
            threading.Thread(target=self._listen_loop, args=self._listening,
                             name="incoming-redis-messages", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        if self._own_pool:
            self.pool.stop()
        self.client.close()

    def call(self, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        """``fn(*args)`` in the pool; a Redis failure becomes an IncomingError (12)."""
        done = deferToThreadPool(self.reactor, self.pool, fn, *args)

        def translate(failure: Failure) -> Failure:
            if failure.check(redis.RedisError):
                return Failure(_failed(failure.value))  # type: ignore[arg-type]
            return failure

        return done.addErrback(translate)

    def in_order(self, key: str, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        """Like :meth:`call`, after every earlier call for ``key`` has ended."""
        result: Deferred[T] = Deferred()
        before = self._tails.get(key)
        tail: Deferred[None] = Deferred()
        self._tails[key] = tail

        def run(_: object = None) -> None:
            self.call(fn, *args).chainDeferred(result)

        def finish(outcome: object) -> object:
            if self._tails.get(key) is tail:
                del self._tails[key]
            tail.callback(None)
            return outcome

        result.addBoth(finish)
        if before is None:
            run()
        else:
            before.addCallback(run)
        return result

    def listen(self, channel: str, receive: Callable[[str], None]) -> None:
        """Once started, receive the messages of ``channel`` in a thread of its own
        (reconnecting after a failure), each handed to ``receive`` on the reactor thread."""
        self._listening = (channel, receive)

    def _listen_loop(self, channel: str, receive: Callable[[str], None]) -> None:
        failing = False  # said so in the log already: once per outage, not every second
        while not self._stopping.is_set():
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(channel)
                if failing:
                    failing = False
                    self.reactor.callFromThread(self.log.info,
                                                "receiving messages from Redis again")
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.reactor.callFromThread(receive, message["data"])
                pubsub.close()
            except Exception as e:  # noqa: BLE001 — a Redis failure, or its connections
                # closed under it at shutdown: either way this thread must go on or end quietly
                if self._stopping.is_set():
                    return
                if not failing:
                    failing = True
                    self.reactor.callFromThread(
                        self.log.warn, "receiving messages from Redis failed, trying again "
                        "every second: {error}", error=str(e))
                self._stopping.wait(1.0)


class RedisRegistry:
    """The :class:`~incoming.registry.Registry` in Redis."""

    def __init__(self, state: RedisState) -> None:
        self._state = state
        self._client = state.client

    def save(self, ticket: Ticket, lease: Lease | None = None) -> Deferred[None]:
        """Fails with error 11 if ``lease`` is given and another instance took the ticket since,
        with error 12 if Redis fails."""
        args = [ticket.id, encode(ticket), int(ticket.needs_attention),
                int(ticket.awaits_backend), "" if lease is None else str(lease.token)]
        keys = [PREFIX + "ticket:" + ticket.id, PREFIX + "attention", PREFIX + "awaiting",
                PREFIX + "token:" + ticket.id]
        saved = self._state.in_order(ticket.id, self._state.save_script, keys, args)
        return saved.addCallback(self._saved, ticket)

    def _saved(self, done: int, ticket: Ticket) -> None:
        if not done:
            raise IncomingError(ErrorCode.TAKEN_OVER, "another instance took this ticket over")

    def load(self, ticket_id: str) -> Deferred[Ticket | None]:
        return self._state.in_order(ticket_id, self._load, ticket_id)

    def _load(self, ticket_id: str) -> Ticket | None:
        text = self._client.get(PREFIX + "ticket:" + ticket_id)
        return decode(str(text)) if text else None

    def needing_attention(self) -> Deferred[list[Ticket]]:
        return self._records_of(PREFIX + "attention")

    def awaiting_backend(self) -> Deferred[list[Ticket]]:
        """Tickets whose backend has yet to hear of them: a handover or an end notice."""
        return self._records_of(PREFIX + "awaiting")

    def _records_of(self, index: str) -> Deferred[list[Ticket]]:
        return self._state.call(self._read_index, index)

    def _read_index(self, index: str) -> list[Ticket]:
        """In a pool thread: the records whose IDs ``index`` holds, read in pages."""
        tickets = []
        for ids in _pages(sorted(self._client.smembers(index)), 500):  # type: ignore[arg-type]
            texts = self._client.mget([PREFIX + "ticket:" + i for i in ids])
            tickets += [decode(str(text)) for text in texts if text]
        return tickets

    def close(self) -> None:
        self._state.stop()


def _pages(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class RedisLeaseStore:
    """The :class:`~incoming.leases.LeaseStore` in Redis."""

    def __init__(self, state: RedisState) -> None:
        self._state = state
        self._client = state.client

    def take(self, ticket_id: str, holder: str, ttl: float,
             only_if_free: bool) -> Deferred[Taken]:
        keys = [PREFIX + "lease:" + ticket_id, PREFIX + "token:" + ticket_id]
        args = [holder, _ms(ttl), "1" if only_if_free else "0"]
        taken = self._state.call(self._state.take_script, keys, args)
        return taken.addCallback(lambda r: Taken(int(r[0]), r[1] or "", max(int(r[2]), 0) / 1e3))

    def extend(self, holder: str, leases: list[Lease], ttl: float) -> Deferred[list[Lease]]:
        keys = []
        for lease in leases:
            keys += [PREFIX + "lease:" + lease.ticket_id, PREFIX + "token:" + lease.ticket_id]
        args = [holder, _ms(ttl)] + [str(lease.token) for lease in leases]
        extended = self._state.call(self._state.extend_script, keys, args)
        return extended.addCallback(lambda lost: [leases[int(i) - 1] for i in lost])

    def drop(self, holder: str, lease: Lease) -> Deferred[None]:
        keys = [PREFIX + "lease:" + lease.ticket_id, PREFIX + "token:" + lease.ticket_id]
        dropped = self._state.call(self._state.drop_script, keys, [holder, str(lease.token)])
        return dropped.addCallback(lambda _: None)

    def free(self, ticket_ids: list[str]) -> Deferred[list[str]]:
        got = self._state.call(self._client.mget, [PREFIX + "lease:" + t for t in ticket_ids])
        return got.addCallback(
            lambda holders: [t for t, h in zip(ticket_ids, holders, strict=True) if not h])

    def lock(self, name: str, holder: str, ttl: float) -> Deferred[bool]:
        got = self._state.call(self._lock, PREFIX + "lock:" + name, holder, _ms(ttl))
        return got.addCallback(bool)

    def _lock(self, key: str, holder: str, ttl_ms: int) -> bool:
        return bool(self._client.set(key, holder, nx=True, px=ttl_ms))

    def tell(self, holder: str, message: str) -> Deferred[None]:
        told = self._state.call(self._client.publish, PREFIX + "instance:" + holder, message)
        return told.addCallback(lambda _: None)

    def listen(self, holder: str, receive: Callable[[str], None]) -> None:
        self._state.listen(PREFIX + "instance:" + holder, receive)


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)

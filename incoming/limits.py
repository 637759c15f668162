"""Limits on connections from the internet, independent of the transport that uses them.

A browser-facing server has to survive clients that open too many connections,
open them too fast, or hide behind a reverse proxy. This module decides; the
faces (the upload WebSocket now, an HTTP upload face later) only ask:

- :func:`client_address` names the client a connection counts against: the
  peer, or, behind a trusted reverse proxy, the address it forwarded;
- :class:`ConnectionLimits` admits or refuses an upload connection by its
  client's open connections and connection rate (a token bucket per address);
- :class:`TotalConnectionLimit` caps every open connection of the public
  listeners, answering a minimal ``503`` past the cap;
- :func:`raise_open_file_limit` lets the process hold as many sockets as the
  system allows it to.

Everything takes the clock it is given (tests pass a ``Clock``).
"""

from __future__ import annotations

import functools
import ipaddress
import resource
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import attrs
from twisted.internet.interfaces import IAddress, IReactorTime, ITCPTransport
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure

log = Logger()

TOO_MANY_REQUESTS = 429
LOG_INTERVAL = 10.0
"""Seconds over which refusals are logged at most :data:`LOG_LINES` times (floods come in
thousands a second; the log must stay readable)."""
LOG_LINES = 10
REFUSED_LINGER = 2.0
"""Seconds a connection refused with 503 is kept so that its request can be read (closing
with unread bytes resets the connection, and the client could lose the answer)."""

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@attrs.frozen
class Refusal:
    """Why a connection is refused: an HTTP status and one line of reason for the client."""

    status: int
    reason: str


# -- who is the client ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[_Network, ...]:
    """The configured networks, parsed once (config values are already normalised)."""
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def _address(text: str) -> _Address | None:
    """An IP address (an IPv4-mapped IPv6 one as IPv4), or None for anything else."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: _Address, networks: Sequence[_Network]) -> bool:
    return any(address.version == network.version and address in network
               for network in networks)


def client_address(peer_host: str, forwarded_for: str | None,
                   trusted_proxies: Sequence[str]) -> str:
    """The address a connection counts against.

    ``X-Forwarded-For`` is anyone's to write, so it counts only when the
    connection comes from a trusted proxy, and then only as far as trusted
    proxies wrote it: proxies append the address they saw, so the right-most
    address that is not itself a trusted proxy is the client. What a client
    wrote further left is ignored. If the part read is malformed, the
    connection counts against the proxy (the peer) itself.
    """
    peer = _address(peer_host)
    if peer is None:
        return peer_host  # not IP (a UNIX socket, say): nothing to trust, nothing to parse
    networks = _networks(tuple(trusted_proxies))
    if not forwarded_for or not _trusted(peer, networks):
        return str(peer)
    entries = forwarded_for.split(",")
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:
            return str(peer)
        if not _trusted(address, networks):
            return str(address)
    return str(_address(entries[0]))  # every hop a trusted proxy: the first one is the client


# -- per address: open connections and their rate -------------------------------------------------

def limit_key(address: str) -> str:
    """What the per-address limits count: the address, or for IPv6 its /64.

    One IPv6 host usually holds a whole /64 and may pick any address in it,
    so counting single addresses would let it step around the limits.
    """
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address


@attrs.define
class _Bucket:
    tokens: float
    updated: float
    open: int = 0


class ConnectionLimits:
    """Admits upload connections per client address: at most ``per_address`` open at once,
    and new ones at ``rate_per_address`` a second (a token bucket holding one second's
    worth, so a page that opens many uploads at once is not refused).

    An address with no open connection whose bucket has had a second to fill up again
    is indistinguishable from one never seen, and is forgotten: memory follows the
    addresses active in the last second, not every address ever seen.
    """

    def __init__(self, clock: IReactorTime, per_address: int, rate_per_address: int) -> None:
        self._clock = clock
        self.per_address = per_address
        self.rate = float(rate_per_address)
        self.burst = float(rate_per_address)
        self._buckets: dict[str, _Bucket] = {}
        self._quiet: OrderedDict[str, float] = OrderedDict()
        """Addresses with no open connection, by when they last changed (oldest first)."""
        self.open_total = 0
        """Open upload connections, all addresses together (the ``incoming_connections``
        gauge)."""

    @property
    def refill_seconds(self) -> float:
        return self.burst / self.rate

    def tracked(self) -> int:
        """How many addresses are remembered (for tests of the memory bound)."""
        return len(self._buckets)

    def admit(self, address: str) -> Refusal | None:
        """Count a new connection from ``address``, or say why it is refused (not counted)."""
        address = limit_key(address)
        now = self._clock.seconds()
        self._forget_quiet(now)
        bucket = self._buckets.get(address) or _Bucket(tokens=self.burst, updated=now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[address] = bucket
        if bucket.open >= self.per_address:
            return Refusal(TOO_MANY_REQUESTS, f"too many open connections from your address "
                                              f"(at most {self.per_address})")
        if bucket.tokens < 1.0:
            self._note_quiet(address, bucket, now)
            return Refusal(TOO_MANY_REQUESTS, f"too many new connections from your address "
                                              f"(at most {self.rate:g} a second)")
        bucket.tokens -= 1.0
        bucket.open += 1
        self.open_total += 1
        self._quiet.pop(address, None)
        return None

    def release(self, address: str) -> None:
        """A connection :meth:`admit` counted has closed."""
        address = limit_key(address)
        bucket = self._buckets.get(address)
        if bucket is None or bucket.open <= 0:
            return
        bucket.open -= 1
        self.open_total -= 1
        now = self._clock.seconds()
        self._note_quiet(address, bucket, now)
        self._forget_quiet(now)

    def _note_quiet(self, address: str, bucket: _Bucket, now: float) -> None:
        if bucket.open == 0:
            self._quiet.pop(address, None)
            self._quiet[address] = now

    def _forget_quiet(self, now: float) -> None:
        horizon = now - self.refill_seconds
        while self._quiet:
            address, since = next(iter(self._quiet.items()))
            if since > horizon:
                return
            del self._quiet[address]
            bucket = self._buckets.get(address)
            if bucket is not None and bucket.open == 0:
                del self._buckets[address]


# -- logging refusals without flooding the log ----------------------------------------------------

class RefusalLog:
    """Logs refusals one line each, at most :data:`LOG_LINES` per :data:`LOG_INTERVAL`; past
    that it counts them and says how many it left out with the next line it writes."""

    def __init__(self, clock: IReactorTime, lines: int = LOG_LINES,
                 interval: float = LOG_INTERVAL, level: str = "info") -> None:
        self._clock = clock
        self._lines = lines
        self._interval = interval
        self._emit = getattr(log, level)
        self._window_end = float("-inf")
        self._written = 0
        self.left_out = 0

    def refused(self, format: str, **fields: Any) -> None:
        """Log one refusal (``format`` is a Twisted logger format string: client-given text
        goes in ``fields``, never in the format)."""
        now = self._clock.seconds()
        if now >= self._window_end:
            self._window_end = now + self._interval
            self._written = 0
        if self._written >= self._lines:
            self.left_out += 1
            return
        self._written += 1
        if self.left_out:
            fields["left_out"] = self.left_out
            format += " ({left_out} similar refusals were not logged)"
            self.left_out = 0
        self._emit(format, **fields)


def printable(text: str, limit: int = 100) -> str:
    """Client-given text, safe for a log line: one line, bounded, control characters escaped."""
    escaped = text[:limit].encode("unicode_escape", "backslashreplace").decode("ascii")
    return escaped + ("..." if len(text) > limit else "")


# -- every open connection of the public listeners -------------------------------------------------

class CountedConnection(ProtocolWrapper):
    """Counts one open connection of a :class:`TotalConnectionLimit` for as long as it lasts,
    whatever protocol it turns into (the upload WebSocket takes over the HTTP connection)."""


class _Unavailable(Protocol):
    """Answers a minimal 503 and closes, once the request has come in (or soon anyway)."""

    transport: ITCPTransport  # TCP, TLS or UNIX (each provides it), set by makeConnection

    def __init__(self, response: bytes, clock: IReactorTime) -> None:
        self._response = response
        self._clock = clock
        self._timer: Any = None

    def connectionMade(self) -> None:
        self.transport.write(self._response)
        self._timer = self._clock.callLater(REFUSED_LINGER, self._linger_over)

    def _linger_over(self) -> None:
        # Under TLS, loseConnection waits for a handshake that a silent client never
        # finishes (the 503 is queued behind it): abort if it has not closed a linger later.
        self.transport.loseConnection()
        self._timer = self._clock.callLater(REFUSED_LINGER, self.transport.abortConnection)

    def dataReceived(self, data: bytes) -> None:
        self._stop_timer()
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._stop_timer()

    def _stop_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


class TotalConnectionLimit(WrappingFactory):
    """Wraps the public listeners' factory: at most ``max_connections`` open at once; past
    that, each new connection gets ``503 Service Unavailable`` with a one-line reason and is
    closed. The refusals are logged (a few lines per ten seconds at most)."""

    protocol = CountedConnection
    reason = "too many connections, try again later"

    def __init__(self, wrapped: Factory[Any], max_connections: int, clock: IReactorTime) -> None:
        super().__init__(wrapped)
        self.max_connections = max_connections
        self._clock = clock
        self._log = RefusalLog(clock, level="warn")
        body = self.reason.encode() + b"\n"
        self._response = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\nRetry-After: 5\r\n\r\n%s"
                          % (len(body), body))

    @property
    def open_connections(self) -> int:
        return len(self.protocols)

    def logPrefix(self) -> str:
        """The wrapped factory's (twistd logs "Site starting on PORT"; tests and operators
        look for that line)."""
        return Factory.logPrefix(self.wrappedFactory)

    # Past the cap it builds a plain Protocol, no wrapper: the port takes any protocol (as
    # Factory.buildProtocol says); only WrappingFactory's annotation promises a wrapper.
    def buildProtocol(self, addr: IAddress | None) -> Protocol:  # type: ignore[override]
        if len(self.protocols) >= self.max_connections:
            self._log.refused("refused a connection from {peer}: {limit} connections are open "
                              "(max_connections); answered 503",
                              peer=getattr(addr, "host", str(addr)), limit=len(self.protocols))
            return _Unavailable(self._response, self._clock)
        return super().buildProtocol(addr)


def limit_total_connections(factory: Factory[Any], max_connections: int,
                            clock: IReactorTime) -> TotalConnectionLimit:
    """``factory`` for the public listeners, with at most ``max_connections`` open at once."""
    return TotalConnectionLimit(factory, max_connections, clock)


def unwrapped(transport: Any) -> Any:
    """The transport under a :class:`CountedConnection` (or ``transport`` itself): where a
    protocol that reads the socket itself has to look (see upload_protocol.py)."""
    return transport.transport if isinstance(transport, CountedConnection) else transport


# -- the listen queue -----------------------------------------------------------------------------

LISTEN_BACKLOG = 1024
"""Connections the kernel queues before the server accepts them (Twisted's default is 50;
past it new connections wait a second or more for a retransmitted SYN)."""
_QUEUEING_ENDPOINTS = ("tcp:", "tcp6:", "ssl:", "unix:")


def with_backlog(description: str, backlog: int = LISTEN_BACKLOG) -> str:
    """A listening endpoint description with a listen queue of ``backlog``, unless it sets
    one: a page that starts a hundred uploads at once, or a thousand browsers after a
    restart, should not find the queue full."""
    if not description.lower().startswith(_QUEUEING_ENDPOINTS) or "backlog=" in description:
        return description
    return f"{description}:backlog={backlog}"


# -- file descriptors ------------------------------------------------------------------------------

def raise_open_file_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the limit now.

    Every connection is a file descriptor, and the usual soft limit (1024)
    would refuse the 1025th upload with EMFILE, however large the other
    limits. The hard limit is the administrator's (``LimitNOFILE=`` in systemd).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as e:
            log.warn("could not raise the open-file limit from {soft} to {target}: {error}",
                     soft=soft, target=target, error=e)
    log.info("open-file limit: {limit} (connections need one each)", limit=soft)
    return soft

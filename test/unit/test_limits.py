"""incoming.limits: who the client is, how many connections it may have, the total cap."""

from __future__ import annotations

import resource

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher

from incoming.limits import (REFUSED_LINGER, ConnectionLimits, Refusal, RefusalLog,
                             client_address, limit_total_connections, printable,
                             raise_open_file_limit)
from test.support.doubles import clock_at

PROXIES = ("10.0.0.0/8", "127.0.0.1/32", "fd00::/8")


@pytest.fixture
def clock():
    return clock_at()


# -- client_address -------------------------------------------------------------------------------

def test_without_trusted_proxies_the_peer_is_the_client():
    """X-Forwarded-For counts for nothing when no proxy is trusted."""
    assert client_address("203.0.113.7", "198.51.100.1", ()) == "203.0.113.7"


def test_forwarded_for_from_an_untrusted_peer_is_ignored():
    """Anyone may write the header: from a peer that is no trusted proxy it is ignored."""
    assert client_address("203.0.113.7", "198.51.100.1", PROXIES) == "203.0.113.7"


def test_a_trusted_proxys_forwarded_address_is_the_client():
    """From a trusted proxy, the address it forwarded is the client."""
    assert client_address("127.0.0.1", "198.51.100.1", PROXIES) == "198.51.100.1"


def test_the_rightmost_untrusted_address_is_the_client():
    """What the client wrote further left is ignored; trusted hops on the right are skipped."""
    header = "1.2.3.4, 198.51.100.1, 10.1.1.1,10.2.2.2"
    assert client_address("127.0.0.1", header, PROXIES) == "198.51.100.1"


def test_junk_the_client_wrote_left_of_its_address_does_not_matter():
    """A client's own forged entries, even malformed, lie left of what the proxy appended."""
    assert client_address("127.0.0.1", "not-an-ip, <script>, 198.51.100.1",
                          PROXIES) == "198.51.100.1"


@pytest.mark.parametrize("header", ["garbage", "198.51.100.1:8080", "", " , ",
                                    "198.51.100.1, 10.0.0.1, nonsense"])
def test_a_malformed_header_counts_against_the_peer(header):
    """A header a trusted proxy wrote that cannot be read counts against the proxy itself."""
    assert client_address("10.9.9.9", header, PROXIES) == "10.9.9.9"


def test_all_hops_trusted_means_the_first_is_the_client():
    """A client inside the trusted network itself is named by the left-most entry."""
    assert client_address("127.0.0.1", "10.0.0.5, 10.0.0.6", PROXIES) == "10.0.0.5"


def test_addresses_are_normalised():
    """IPv6 is compared in one spelling, and an IPv4-mapped peer is its IPv4 address."""
    assert client_address("::ffff:127.0.0.1", "2001:DB8:0:0::1", PROXIES) == "2001:db8::1"
    assert client_address("fd00::0001", "198.51.100.1", PROXIES) == "198.51.100.1"


def test_a_peer_that_is_not_ip_is_taken_as_it_is():
    """A UNIX socket's peer has no address to trust; the header is not read."""
    assert client_address("/run/incoming.sock", "198.51.100.1", PROXIES) == "/run/incoming.sock"


# -- ConnectionLimits -----------------------------------------------------------------------------

def test_new_connections_beyond_a_seconds_worth_are_refused_with_429(clock):
    """The bucket holds one second's worth: that many at once are admitted, the next is not."""
    limits = ConnectionLimits(clock, per_address=100, rate_per_address=5)
    assert [limits.admit("a") for _ in range(5)] == [None] * 5
    refusal = limits.admit("a")
    assert isinstance(refusal, Refusal) and refusal.status == 429
    assert "new connections" in refusal.reason and "\n" not in refusal.reason
    assert limits.admit("b") is None, "other addresses have their own bucket"


def test_the_rate_refills_with_time(clock):
    """At rate r, one more connection is admitted every 1/r seconds, and no faster."""
    limits = ConnectionLimits(clock, per_address=100, rate_per_address=4)
    for _ in range(4):
        assert limits.admit("a") is None
    clock.advance(0.2)
    assert limits.admit("a") is not None
    clock.advance(0.05)
    assert limits.admit("a") is None
    assert limits.admit("a") is not None
    clock.advance(10)
    answers = [limits.admit("a") for _ in range(5)]
    assert answers[:4] == [None] * 4 and answers[4] is not None, "never more than the burst"


def test_open_connections_per_address_are_capped_until_one_is_released(clock):
    """At per_address open connections the next is refused (429); a release makes room."""
    limits = ConnectionLimits(clock, per_address=2, rate_per_address=100)
    assert limits.admit("a") is None and limits.admit("a") is None
    refusal = limits.admit("a")
    assert refusal is not None and refusal.status == 429 and "open connections" in refusal.reason
    assert limits.open_total == 2
    limits.release("a")
    assert limits.open_total == 1
    assert limits.admit("a") is None
    assert limits.open_total == 2


def test_a_refused_connection_is_not_counted(clock):
    """Refusals count neither as open connections nor against the bucket."""
    limits = ConnectionLimits(clock, per_address=1, rate_per_address=2)
    assert limits.admit("a") is None
    for _ in range(50):
        assert limits.admit("a") is not None
    assert limits.open_total == 1
    limits.release("a")
    assert limits.admit("a") is None  # the second token was never spent by the refusals


def test_idle_addresses_are_forgotten(clock):
    """An address with nothing open is dropped once its bucket has refilled: memory follows
    the last second's addresses, not every address ever seen."""
    limits = ConnectionLimits(clock, per_address=10, rate_per_address=10)
    for n in range(1000):
        address = f"192.0.2.{n % 250}-{n}"
        assert limits.admit(address) is None
        limits.release(address)
    assert limits.tracked() == 1000
    limits.admit("still-open")
    clock.advance(1.01)
    limits.admit("newcomer")
    assert limits.tracked() == 2, "only the open ones remain"
    assert limits.open_total == 2


def test_an_address_with_open_connections_is_never_forgotten(clock):
    """However long it lasts, an open connection keeps its address counted."""
    limits = ConnectionLimits(clock, per_address=1, rate_per_address=10)
    assert limits.admit("a") is None
    clock.advance(3600)
    limits.admit("b")
    assert limits.admit("a") is not None


def test_release_of_an_unknown_address_changes_nothing(clock):
    """A release without an admission (a bug elsewhere) cannot make counts negative."""
    limits = ConnectionLimits(clock, per_address=1, rate_per_address=1)
    limits.release("nobody")
    assert limits.open_total == 0


# -- the refusal log ------------------------------------------------------------------------------

@pytest.fixture
def logged():
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


def test_refusals_are_logged_a_few_lines_per_interval(clock, logged):
    """A flood writes at most ``lines`` lines per interval; the next line says how many were
    left out."""
    refusals = RefusalLog(clock, lines=3, interval=10.0)
    for n in range(1000):
        refusals.refused("refused {n}", n=n)
    assert [e["n"] for e in logged] == [0, 1, 2]
    clock.advance(10)
    refusals.refused("refused {n}", n="later")
    assert logged[-1]["left_out"] == 997


def test_client_text_is_made_printable():
    """One bounded line: no newlines, no control characters, whatever the client sent."""
    text = printable("https://x\r\nInjected: yes\x1b[31m" + "y" * 500)
    assert "\n" not in text and "\r" not in text and "\x1b" not in text
    assert len(text) < 130 and text.endswith("...")


# -- the total cap --------------------------------------------------------------------------------

class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


def connect(factory):
    protocol = factory.buildProtocol(IPv4Address("TCP", "192.0.2.1", 1234))
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def test_past_the_total_cap_connections_get_503_and_are_closed(clock, logged):
    """max_connections are served; the next gets a minimal 503 with a one-line reason and is
    closed once its request is read; a closed one makes room again."""
    limited = limit_total_connections(Factory.forProtocol(Echo), 2, clock)
    served = [connect(limited) for _ in range(2)]
    assert limited.open_connections == 2
    _, refused = connect(limited)
    head, _, body = refused.value().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert body.count(b"\n") == 1 and b"too many connections" in body
    assert refused.disconnecting is False, "the request is read before the close"
    clock.advance(REFUSED_LINGER)
    assert refused.disconnecting is True
    assert sum("max_connections" in e.get("log_format", "") for e in logged) == 1
    served[0][0].connectionLost(None)
    assert limited.open_connections == 1
    protocol, transport = connect(limited)
    protocol.dataReceived(b"ping")
    assert transport.value() == b"ping"


def test_a_refused_connection_closes_as_soon_as_its_request_arrives(clock):
    """Reading the request first lets the client see the 503 instead of a reset."""
    limited = limit_total_connections(Factory.forProtocol(Echo), 0, clock)
    protocol, transport = connect(limited)
    protocol.dataReceived(b"GET / HTTP/1.1\r\n\r\n")
    assert transport.disconnecting is True
    assert clock.getDelayedCalls() == [] or not any(c.active() for c in clock.getDelayedCalls())


def test_a_refused_tls_connection_that_never_shakes_hands_is_closed(clock, tmp_path) -> None:
    """Behind an ssl: listener, a refused client that never completes the TLS handshake is
    still disconnected soon after the linger, not held open for ever."""
    from twisted.internet.ssl import PrivateCertificate
    from twisted.protocols.tls import TLSMemoryBIOFactory

    from test.support.tls import self_signed

    key, cert = self_signed(tmp_path)
    certificate = PrivateCertificate.loadPEM(key.read_text() + cert.read_text())
    limited = limit_total_connections(Factory.forProtocol(Echo), 0, clock)
    protocol, transport = connect(TLSMemoryBIOFactory(certificate.options(), False, limited))
    for _ in range(3):
        clock.advance(REFUSED_LINGER)
    assert transport.disconnecting or transport.disconnected


def test_the_wrapper_logs_as_the_site_it_wraps(clock):
    """twistd's "Site starting on PORT" line keeps its wording behind the wrapper."""
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    assert limit_total_connections(Site(Resource()), 5, clock).logPrefix() == "Site"


# -- file descriptors -----------------------------------------------------------------------------

def test_the_open_file_limit_is_raised_to_the_hard_limit(logged):
    """The soft limit ends at the hard limit (the test lowers it first), logged in one line."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(soft, hard, 256)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        limit = raise_open_file_limit()
        now, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert limit == now
        assert now == hard or (hard == resource.RLIM_INFINITY and now >= lowered)
        assert [e["limit"] for e in logged if "limit" in e] == [limit]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, now), hard))


# -- the listen queue -----------------------------------------------------------------------------

@pytest.mark.parametrize("description, expected", [
    ("tcp:4000", "tcp:4000:backlog=1024"),
    ("tcp:0:interface=127.0.0.1", "tcp:0:interface=127.0.0.1:backlog=1024"),
    ("ssl:443:privateKey=k.pem:certKey=c.pem", "ssl:443:privateKey=k.pem:certKey=c.pem:"
                                               "backlog=1024"),
    ("tcp:4000:backlog=10", "tcp:4000:backlog=10"),
    ("systemd:domain=INET:index=0", "systemd:domain=INET:index=0"),
])
def test_listeners_get_a_listen_queue_for_bursts(description, expected):
    """TCP, TLS and UNIX listeners queue 1024 connections unless the operator says otherwise
    (Twisted's 50 made a burst of 1000 wait 15 s for SYN retransmits)."""
    from incoming.limits import with_backlog

    assert with_backlog(description) == expected


def test_ipv6_addresses_count_per_64_network():
    """Addresses of one IPv6 /64 share one allowance: a host cannot step around the caps by
    picking new addresses from its network; IPv4 addresses count one by one."""
    from incoming.limits import limit_key

    assert limit_key("2001:db8:1:2::1") == limit_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("192.0.2.1") == "192.0.2.1"
    limits = ConnectionLimits(clock_at(), per_address=2, rate_per_address=100)
    assert limits.admit("2001:db8::1") is None
    assert limits.admit("2001:db8::2") is None
    assert limits.admit("2001:db8::3") is not None
    limits.release("2001:db8::1")
    assert limits.admit("2001:db8::4") is None

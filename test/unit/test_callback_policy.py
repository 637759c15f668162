"""callback_allow: URL parsing and matching, connect-time address checks, the quiet client."""

from __future__ import annotations

import ipaddress

import pytest
import treq
from hypothesis import given, settings
from hypothesis import strategies as st
from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.web.resource import Resource

from incoming.backend_api import BackendAPI
from incoming.callback_policy import (
    CallbackPolicy,
    CallbackRefused,
    Permit,
    _QuietConnectionPool,
    make_callback_client,
    parse_target,
)
from incoming.config import ConfigError
from test.support.harness import Server

RULES = ("https://app.example.com/hooks/", "http://cb.example.com:8080/in", "api.example.com",
         "10.1.2.0/24", "192.0.2.7", "[2001:db8::1]")
POLICY = CallbackPolicy.parse(RULES)
FAST = settings(max_examples=60, deadline=None)


def allowed(url: str, policy: CallbackPolicy = POLICY) -> bool:
    """Allowed for certain: by a rule, not pending where a name resolves at connect time."""
    try:
        permit = policy.check_url(url)
    except CallbackRefused:
        return False
    return permit.any_address or parse_target(url).ip is not None


@pytest.mark.parametrize("url", [
    "https://app.example.com/hooks/",
    "https://app.example.com/hooks/upload?x=1",
    "https://APP.Example.COM:443/hooks/a/b",
    "https://app.example.com./hooks/a",
    "http://cb.example.com:8080/in",
    "http://cb.example.com:8080/in/sub",
    "http://api.example.com/anything",
    "https://api.example.com:8443/x",
    "http://10.1.2.99/cb",
    "http://[::ffff:10.1.2.3]/cb",
    "http://192.0.2.7:9000/",
    "http://[2001:db8::1]/x",
])
def test_urls_inside_the_rules_are_allowed(url):
    """Prefixes, host names and networks allow what they name, in any spelling of case or port."""
    assert allowed(url)


@pytest.mark.parametrize("url, why", [
    ("https://app.example.com/hooksX", "prefix must end on a segment boundary"),
    ("https://app.example.com/", "path outside the prefix"),
    ("http://app.example.com/hooks/", "scheme differs"),
    ("https://app.example.com:8443/hooks/", "port differs"),
    ("http://cb.example.com:8080/inbox", "segment boundary without trailing slash"),
    ("http://cb.example.com/in", "default port is not 8080"),
    ("https://app.example.com/hooks/../admin", "dot segments"),
    ("https://app.example.com/hooks/%2e%2e/admin", "encoded dot segments"),
    ("https://app.example.com/hooks%2f..%2fadmin", "encoded slash"),
    ("https://app.example.com@evil.test/hooks/", "user-info"),
    ("http://api.example.com:x@evil.test/", "user-info with colon"),
    ("http://sub.api.example.com/", "subdomains are not the host"),
    ("http://169.254.169.254/latest/meta-data/", "metadata service"),
    ("http://10.1.3.1/", "outside the network"),
    ("http://0x0a.1.2.3/", "hex IPv4"),
    ("http://167838211/", "integer IPv4"),
    ("http://012.1.2.3/", "octal IPv4"),
    ("http://10.1.2/", "short IPv4"),
    ("http://[::ffff:127.0.0.1]/", "mapped loopback"),
    ("http://[fe80::1%25eth0]/", "zone"),
    ("ftp://api.example.com/", "scheme"),
    ("http://api.example.com\\@evil.test/", "backslash"),
    ("http://api.exa%6dple.com/", "percent-encoded host"),
    ("http://äpi.example.com/", "non-ASCII host"),
])
def test_urls_outside_the_rules_are_refused(url, why):
    """Every spelling that could reach another host, port or path is refused."""
    assert not allowed(url), why


@pytest.mark.parametrize("rule", [
    "0x7f.1", "http://", "https://good@evil/", "https://a.example/x?y=1", "10.0.0.0/33",
    "bad host", "a/b", "ftp://x/",
])
def test_a_bad_rule_names_callback_allow(rule):
    """A rule that is no prefix, host name or network is a ConfigError naming callback_allow."""
    with pytest.raises(ConfigError) as caught:
        CallbackPolicy.parse([rule])
    assert caught.value.option == "callback_allow"


def test_no_rules_is_an_open_policy_like_0_1():
    """Without rules any http(s) URL with a host is allowed, and is_open says so."""
    policy = CallbackPolicy.parse([])
    assert policy.is_open and not POLICY.is_open
    assert allowed("http://127.0.0.1:9/x", policy)
    assert not allowed("ftp://a/", policy) and not allowed("http:///x", policy)


def test_a_name_allowed_only_by_a_network_is_decided_at_connect_time():
    """A host name under network rules alone passes new_upload; only its address allows it."""
    permit = POLICY.check_url("http://anything.example/cb")
    assert not permit.any_address
    permit.check_address("10.1.2.200")
    permit.check_address("::ffff:10.1.2.5")
    with pytest.raises(CallbackRefused):
        permit.check_address("127.0.0.1")
    assert POLICY.check_url("http://api.example.com/").any_address
    with pytest.raises(CallbackRefused):
        CallbackPolicy.parse(["api.example.com"]).check_url("http://other.example/")


# -- properties ------------------------------------------------------------------------------------

labels = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)
hosts = st.lists(labels, min_size=2, max_size=4).map(".".join)
paths = st.lists(st.from_regex(r"[a-zA-Z0-9_~-]{1,8}", fullmatch=True), max_size=4).map(
    lambda segments: "/" + "/".join(segments))
users = st.from_regex(r"[a-zA-Z0-9._~-]{1,10}(:[a-zA-Z0-9]{0,6})?", fullmatch=True)
ports = st.integers(1, 65535)


@FAST
@given(host=hosts, path=paths, user=users, scheme=st.sampled_from(["http", "https"]))
def test_any_url_with_user_info_is_refused(host, path, user, scheme):
    """However it is spelled, a URL with user-info never passes, even to an allowed host."""
    policy = CallbackPolicy.parse([host, f"{scheme}://{host}/", "0.0.0.0/0"])
    assert not allowed(f"{scheme}://{user}@{host}{path}", policy)


@FAST
@given(host=hosts, path=paths, port=ports, other=ports, scheme=st.sampled_from(["http", "https"]))
def test_an_allowed_prefix_with_another_port_is_refused(host, path, port, other, scheme):
    """A prefix allows its own port only (default ports written or not), never another one."""
    policy = CallbackPolicy.parse([f"{scheme}://{host}:{port}{path}"])
    assert allowed(f"{scheme}://{host.upper()}:{port}{path}", policy)
    default = 80 if scheme == "http" else 443
    if port == default:
        assert allowed(f"{scheme}://{host}{path}", policy)
    if other != port:
        assert not allowed(f"{scheme}://{host}:{other}{path}", policy)


def odd_spellings(ip: ipaddress.IPv4Address) -> list[str]:
    value = int(ip)
    a, b, c, d = ip.packed
    return [str(value), hex(value), "0" + oct(value)[2:], f"{a}.{(b << 16) | (c << 8) | d}",
            f"{hex(a)}.{b}.{c}.{d}", f"0{a:o}.{b}.{c}.{d}" if a else f"00.{b}.{c}.{d}",
            f"{a}.{b}.{(c << 8) | d}"]


@FAST
@given(ip=st.ip_addresses(v=4))
def test_odd_ipv4_spellings_never_match(ip):
    """Integer, hex, octal and short spellings of an address match no rule: they are refused."""
    policy = CallbackPolicy.parse([str(ip), "0.0.0.0/0", f"http://{ip}/"])
    assert allowed(f"http://{ip}/", policy)
    for spelling in odd_spellings(ip):
        assert not allowed(f"http://{spelling}/", policy), spelling


@FAST
@given(ip=st.ip_addresses(v=4), inside=st.booleans())
def test_mapped_ipv6_is_the_ipv4_address_it_reaches(ip, inside):
    """[::ffff:a.b.c.d] is allowed exactly when a.b.c.d is."""
    network = ipaddress.ip_network(f"{ip}/16", strict=False)
    rule = str(network) if inside else "192.0.2.0/24"
    policy = CallbackPolicy.parse([rule])
    assert allowed(f"http://[::ffff:{ip}]/", policy) == allowed(f"http://{ip}/", policy)


@FAST
@given(host=hosts, path=paths, port=ports, scheme=st.sampled_from(["http", "https"]),
       dot=st.booleans())
def test_parsing_round_trips(host, path, port, scheme, dot):
    """A URL rebuilt from its parsed parts parses the same, and its prefix rule allows it."""
    target = parse_target(f"{scheme}://{host.upper()}{'.' if dot else ''}:{port}{path}")
    again = parse_target(f"{target.origin}{target.path}")
    assert again == target and target.host == host
    assert allowed(f"{target.origin}{target.path}", CallbackPolicy.parse([target.origin + path]))


# -- the backend API -------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://10.0.0.1/",
                                 "http://api.example.com@evil.test/"])
def test_new_upload_refuses_a_disallowed_url_with_400_and_no_ticket(tmp_path, url):
    """new_upload answers 400 naming the problem and creates no ticket."""
    server = Server(tmp_path)
    root = Resource()
    root.putChild(b"backend", BackendAPI(server.office, POLICY))
    http = StubTreq(root)
    d = http.post("http://incoming.test/backend/new_upload", data={"signalFinishURL": url})
    http.flush()
    response = d.result
    text = treq.text_content(response).result
    assert response.code == 400 and "signalFinishURL is not allowed" in text
    assert server.registry.tickets == {}


# -- the callbacks' HTTP client --------------------------------------------------------------------

class FakeResolver:
    """Resolves every name to the given addresses, at once."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    def resolveHostName(self, receiver, host, port=0, addressTypes=None,
                        transportSemantics="TCP"):
        self.asked.append(host)
        receiver.resolutionBegan(None)
        for address in self.addresses:
            receiver.addressResolved(IPv4Address("TCP", address, port))
        receiver.resolutionComplete()
        return None


def post(policy, url, *addresses):
    reactor = MemoryReactorClock()
    resolver = FakeResolver(*addresses)
    client = make_callback_client(reactor, policy, resolver=resolver)
    outcome = []
    client.post(url, data=b"x").addBoth(outcome.append)
    return reactor, resolver, outcome


def test_a_rebound_name_gets_no_connection():
    """A name allowed only by a network rule that resolves outside it is not connected to."""
    reactor, resolver, outcome = post(CallbackPolicy.parse(["10.1.2.0/24"]),
                                      "http://localhost:8080/cb", "127.0.0.1")
    assert resolver.asked == ["localhost"]
    assert reactor.tcpClients == []
    assert outcome[0].check(CallbackRefused)
    assert "127.0.0.1 is outside" in str(outcome[0].value)


def test_only_addresses_inside_the_network_are_connected_to():
    """Of the addresses a name resolves to, the connection goes to an allowed one, by IP."""
    reactor, _, outcome = post(CallbackPolicy.parse(["10.1.2.0/24"]),
                               "http://hooks.internal:8080/cb", "127.0.0.1", "10.1.2.3")
    [(host, port, _factory, _timeout, _bind)] = reactor.tcpClients
    assert (host, port) == ("10.1.2.3", 8080) and outcome == []


def test_a_name_allowed_by_name_connects_where_it_resolves():
    """A host-name rule trusts the name: its address is not checked against networks."""
    reactor, _, _ = post(CallbackPolicy.parse(["app.example.com"]),
                         "http://app.example.com/cb", "127.0.0.1")
    assert [c[:2] for c in reactor.tcpClients] == [("127.0.0.1", 80)]


def test_https_wraps_tls_around_the_checked_address():
    """An https callback connects to the resolved IP and speaks TLS (certificate: the name)."""
    reactor, _, _ = post(CallbackPolicy.parse(["https://app.example.com/"]),
                         "https://app.example.com/cb", "127.0.0.1")
    [(host, port, factory, _timeout, _bind)] = reactor.tcpClients
    assert (host, port) == ("127.0.0.1", 443)
    assert isinstance(factory._wrappedFactory, TLSMemoryBIOFactory)


def test_the_url_is_checked_again_at_connect_time():
    """A URL outside the policy is refused by the client too, without resolving it."""
    reactor, resolver, outcome = post(CallbackPolicy.parse(["app.example.com"]),
                                      "http://evil.test/", "127.0.0.1")
    assert outcome[0].check(CallbackRefused) and resolver.asked == []
    assert reactor.tcpClients == []


def test_ip_literals_are_not_resolved():
    """An address in the URL is connected to as it is (after the check), without DNS."""
    reactor, resolver, _ = post(CallbackPolicy.parse(["127.0.0.0/8"]), "http://127.0.0.1:9/",
                                "10.9.9.9")
    assert resolver.asked == [] and [c[:2] for c in reactor.tcpClients] == [("127.0.0.1", 9)]


def test_the_client_factory_does_not_log_every_connection():
    """The pool's HTTP client factory is not noisy (no 'Starting factory' per callback)."""
    assert _QuietConnectionPool._factory.noisy is False
    assert _QuietConnectionPool(MemoryReactorClock(), persistent=False).persistent is False


def test_permit_by_name_allows_any_address():
    """A permit by name checks nothing at connect time."""
    Permit(any_address=True).check_address("169.254.169.254")

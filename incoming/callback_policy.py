"""Where callbacks may go: the ``callback_allow`` rules, checked twice.

A callback is a POST that the server makes to a URL its backend chose. If
that backend (or whoever steals its API key) may name any URL, the server
becomes a way into the network behind it: cloud metadata services
(``169.254.169.254``), admin ports on loopback, internal hosts. The rules
say where callbacks may go:

* a URL prefix, ``https://app.example.com/hooks/``: same scheme, host and
  port (default ports spelled or not), and a path that starts with the
  prefix's on a segment boundary (``/hooks`` allows ``/hooks`` and
  ``/hooks/x``, not ``/hooksX``);
* a host name, ``app.example.com``: any http(s) URL on that host (exactly
  that name, not its subdomains);
* a network or single address, ``10.1.2.0/24``, ``10.1.2.3``, ``::1``: any
  http(s) URL whose host is such an address, or a name that resolves into
  the network *at connect time*.

A URL is parsed (``urlsplit``, ``ipaddress``) before it is compared, never
matched as a string: URLs with user-info (``http://good@evil/``), IPv4
addresses not written as four decimal numbers (``0x7f.1``, ``2130706433``,
``017700000001``), percent-encoded or non-ASCII host names, ``.``/``..``
path segments and control characters are refused outright; case, default
ports, IPv4-mapped IPv6 addresses and a trailing dot of a host name are
normalised.

The check when the ticket is made (:meth:`CallbackPolicy.check_url`) cannot
know where a name will resolve when the callback is made (DNS rebinding), so
the callbacks' HTTP client (:func:`make_callback_client`) checks every
connection again, against the address it connects to
(:meth:`Permit.check_address`), and connects to that very address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs
from treq.client import HTTPClient
from twisted.internet.defer import Deferred, fail, inlineCallbacks, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import (
    IHostResolution,
    IProtocolFactory,
    IResolutionReceiver,
    IStreamClientEndpoint,
)
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool, URI
from twisted.web.iweb import IAgentEndpointFactory, IPolicyForHTTPS
from zope.interface import implementer

from incoming.config import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_DOTTED_QUAD = re.compile(r"^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]")


class CallbackRefused(ValueError):
    """A callback URL, or the address it resolved to, is outside ``callback_allow``."""


@attrs.frozen
class Target:
    """A callback URL taken apart and normalised: what the rules compare."""

    scheme: str
    host: str
    """Lower case, without a trailing dot; an IP address in its canonical form."""
    port: int
    path: str
    ip: IPAddress | None
    """The host as an address, when the URL names one."""

    @property
    def origin(self) -> str:
        """``scheme://host:port``: what a message may show (no path, no query)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_target(url: str) -> Target:
    """Take ``url`` apart, refusing every spelling that could mean another host or path."""
    if _FORBIDDEN.search(url):
        raise CallbackRefused("the URL contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise CallbackRefused(f"the URL cannot be parsed: {e}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise CallbackRefused("only http and https URLs are allowed")
    if "@" in parts.netloc:
        raise CallbackRefused("URLs with user information (user@host) are not allowed")
    host, ip = _parse_host(parts.netloc, parts.hostname or "")
    path = parts.path or "/"
    _check_path(path)
    return Target(scheme, host, port if port is not None else DEFAULT_PORTS[scheme], path, ip)


def _parse_host(netloc: str, hostname: str) -> tuple[str, IPAddress | None]:
    if not hostname:
        raise CallbackRefused("the URL names no host")
    if netloc.startswith("["):
        if "%" in hostname:
            raise CallbackRefused("IPv6 addresses with a zone are not allowed")
        try:
            ip: IPAddress | None = _unmapped(ipaddress.IPv6Address(hostname))
        except ValueError:
            raise CallbackRefused(f"[{hostname}] is not an IPv6 address") from None
        return str(ip), ip
    name = hostname[:-1] if hostname.endswith(".") else hostname
    ip = _ipv4(name)
    if ip is not None:
        return str(ip), ip
    _check_host_name(name)
    return name, None


def _ipv4(name: str) -> ipaddress.IPv4Address | None:
    """The address for a dotted quad; None for a host name; refused for other IP spellings.

    Browsers and C libraries read ``0x7f.1``, ``2130706433`` or ``0177.0.0.1`` as
    127.0.0.1 (a host whose last label is a number is an IPv4 address to them):
    such spellings are refused, so that nothing reads them as a name.
    """
    if _DOTTED_QUAD.match(name):
        try:
            return ipaddress.IPv4Address(name)
        except ValueError:
            pass  # a part above 255: refused below
    if _NUMERIC_LABEL.match(name.rsplit(".", 1)[-1]):
        raise CallbackRefused(
            f"{name!r} is not a host name, nor an IPv4 address written as four decimal numbers")
    return None


def _check_host_name(name: str) -> None:
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise CallbackRefused(
            f"{name!r} is not a valid host name (ASCII letters, digits and hyphens; "
            "write international names in their xn-- form)")


def _check_path(path: str) -> None:
    """Refuse paths that a server would read as another path than the string says."""
    for segment in path.split("/"):
        decoded = unquote(segment)
        if decoded in (".", "..") or "/" in decoded or "\\" in decoded:
            raise CallbackRefused("the URL path has '.' or '..' segments or encoded slashes")


def _unmapped(ip: IPAddress) -> IPAddress:
    """``::ffff:127.0.0.1`` is 127.0.0.1: compare it as what it reaches."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_address(text: str) -> IPAddress:
    """An address a name resolved to, normalised like a URL's host."""
    return _unmapped(ipaddress.ip_address(text.split("%", 1)[0]))


@attrs.frozen
class PrefixRule:
    scheme: str
    host: str
    port: int
    path: str

    def allows(self, target: Target) -> bool:
        if (target.scheme, target.host, target.port) != (self.scheme, self.host, self.port):
            return False
        if self.path.endswith("/"):
            return target.path.startswith(self.path)
        return target.path == self.path or target.path.startswith(self.path + "/")


@attrs.frozen
class Permit:
    """Why a URL is allowed, and so where its connections may go."""

    any_address: bool
    """Allowed by name (or an open policy): connect wherever the name resolves."""
    networks: tuple[IPNetwork, ...] = ()
    """Otherwise: every address connected to must be inside one of these."""

    def check_address(self, address: str | IPAddress) -> None:
        """Raise :class:`CallbackRefused` unless a connection to ``address`` is allowed."""
        if self.any_address:
            return
        ip = parse_address(str(address))
        if not any(ip in network for network in self.networks):
            raise CallbackRefused(f"{ip} is outside the networks callback_allow names")


@attrs.frozen
class CallbackPolicy:
    """The parsed ``callback_allow`` rules; no rules at all is an open policy."""

    prefixes: tuple[PrefixRule, ...] = ()
    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, rules: Iterable[str]) -> CallbackPolicy:
        """Parse ``callback_allow``; a bad rule raises :class:`ConfigError` naming the option."""
        prefixes: list[PrefixRule] = []
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for rule in rules:
            try:
                _add_rule(rule.strip(), prefixes, hosts, networks)
            except ValueError as e:
                raise ConfigError("callback_allow", f"rule {rule!r}: {e}") from None
        return cls(tuple(prefixes), frozenset(hosts), tuple(networks))

    @property
    def is_open(self) -> bool:
        """No rules: callbacks may go to any http(s) URL (worth a warning at startup)."""
        return not (self.prefixes or self.hosts or self.networks)

    def check_url(self, url: str) -> Permit:
        """How ``url`` is allowed; :class:`CallbackRefused` (a ValueError) if it is not."""
        if self.is_open:
            return self._check_open(url)
        target = parse_target(url)
        if target.host in self.hosts or any(p.allows(target) for p in self.prefixes):
            return Permit(any_address=True)
        if target.ip is not None:
            if any(target.ip in network for network in self.networks):
                return Permit(any_address=False, networks=self.networks)
        elif self.networks:
            # A name may still be allowed by where it resolves: decided at connect time.
            return Permit(any_address=False, networks=self.networks)
        raise CallbackRefused(f"{target.origin}{target.path} is outside callback_allow")

    @staticmethod
    def _check_open(url: str) -> Permit:
        """An open policy keeps 0.1's rule: any http(s) URL with a host."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
            raise CallbackRefused("only http and https URLs are allowed")
        return Permit(any_address=True)


def _add_rule(rule: str, prefixes: list[PrefixRule], hosts: set[str],
              networks: list[IPNetwork]) -> None:
    if re.match(r"^https?://", rule, re.IGNORECASE):
        target = parse_target(rule)
        if urlsplit(rule).query or urlsplit(rule).fragment or "?" in rule or "#" in rule:
            raise ValueError("a URL prefix cannot have a query or a fragment")
        prefixes.append(PrefixRule(target.scheme, target.host, target.port, target.path))
        return
    try:
        network = ipaddress.ip_network(rule.strip("[]"), strict=False)
    except ValueError:
        pass
    else:
        networks.append(_unmapped_network(network))
        return
    if "/" in rule or ":" in rule:
        raise ValueError("not a URL prefix (http(s)://…), a host name or a network")
    host, ip = _parse_host(rule, rule.lower())
    if ip is not None:
        networks.append(ipaddress.ip_network(ip))
    else:
        hosts.add(host)


def _unmapped_network(network: IPNetwork) -> IPNetwork:
    """``::ffff:10.0.0.0/104`` means 10.0.0.0/8: addresses are compared unmapped."""
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network


# -- the callbacks' HTTP client: checks every connection against the policy -------------------

CONNECT_TIMEOUT = 30.0


def make_callback_client(reactor: Any, policy: CallbackPolicy,
                         tls: IPolicyForHTTPS | None = None,
                         resolver: Any = None) -> HTTPClient:
    """The treq client for callbacks: each connection is checked, then made to a checked IP.

    The host name is resolved here (``resolver``, by default the reactor's
    ``nameResolver``), each address is checked against the URL's
    :class:`Permit`, and the connection goes to that exact address: a name
    that resolved inside the allowed networks when the ticket was made and
    resolves elsewhere now (DNS rebinding) gets no connection. TLS still
    checks the certificate against the URL's host name (and sends it as SNI).
    No connection is kept for reuse: callbacks are rare, and a kept connection
    the backend closed meanwhile would fail the next POST.
    """
    factory = _CheckedEndpointFactory(reactor, policy, tls or BrowserLikePolicyForHTTPS(),
                                      resolver or reactor.nameResolver)
    pool = _QuietConnectionPool(reactor, persistent=False)
    return HTTPClient(Agent.usingEndpointFactory(reactor, factory, pool=pool))


# Twisted's factory logs "Starting factory _HTTP11ClientFactory" (and "Stopping ...") for
# every connection, so two log lines per callback attempt. The factory class and the pool's
# _factory attribute are private Twisted API; this is the one place that relies on them.
from twisted.web.client import _HTTP11ClientFactory  # noqa: E402


class _QuietHTTP11ClientFactory(_HTTP11ClientFactory):
    noisy = False


class _QuietConnectionPool(HTTPConnectionPool):
    _factory = _QuietHTTP11ClientFactory


@implementer(IAgentEndpointFactory)
@attrs.define
class _CheckedEndpointFactory:
    _reactor: Any
    _policy: CallbackPolicy
    _tls: IPolicyForHTTPS
    _resolver: Any

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        """Check the URL again (the policy may have changed since the ticket was made)."""
        try:
            permit = self._policy.check_url(uri.toBytes().decode("ascii"))
        except (CallbackRefused, UnicodeDecodeError) as e:
            # Agent lets only SchemeNotSupported fail the request: fail the connection instead.
            return _RefusedEndpoint(CallbackRefused(str(e)))
        host = uri.host.decode("ascii")
        creator = None
        if uri.scheme == b"https":
            creator = self._tls.creatorForNetloc(uri.host, uri.port)
        return _CheckedEndpoint(self._reactor, self._resolver, permit, host, uri.port, creator)


@implementer(IStreamClientEndpoint)
@attrs.define
class _RefusedEndpoint:
    _error: CallbackRefused

    def connect(self, factory: IProtocolFactory) -> Deferred[Any]:
        return fail(self._error)


@implementer(IStreamClientEndpoint)
@attrs.define
class _CheckedEndpoint:
    """Resolves, keeps the permitted addresses, connects to them in turn."""

    _reactor: Any
    _resolver: Any
    _permit: Permit
    _host: str
    _port: int
    _tls: Any
    """An ``IOpenSSLClientConnectionCreator`` for https, else None."""

    def connect(self, factory: IProtocolFactory) -> Deferred[Any]:
        return self._connect(factory)

    @inlineCallbacks
    def _connect(self, factory: IProtocolFactory) -> Any:
        addresses = yield self._addresses()
        allowed, refusal = [], None
        for address in addresses:
            try:
                self._permit.check_address(address)
            except CallbackRefused as e:
                refusal = e
            else:
                allowed.append(address)
        if not allowed:
            raise refusal or CallbackRefused(f"{self._host} resolved to no address")
        for n, address in enumerate(allowed):
            try:
                return (yield self._endpoint(address).connect(factory))
            except Exception:
                if n == len(allowed) - 1:
                    raise
        raise AssertionError("unreachable")

    def _addresses(self) -> Deferred[list[str]]:
        try:
            return succeed([str(ipaddress.ip_address(self._host))])
        except ValueError:
            return _resolve(self._resolver, self._host, self._port)

    def _endpoint(self, address: str) -> IStreamClientEndpoint:
        kind = TCP6ClientEndpoint if ":" in address else TCP4ClientEndpoint
        endpoint = kind(self._reactor, address, self._port, timeout=CONNECT_TIMEOUT)
        return wrapClientTLS(self._tls, endpoint) if self._tls is not None else endpoint


def _resolve(resolver: Any, host: str, port: int) -> Deferred[list[str]]:
    """The addresses ``host`` resolves to now (an empty list if none)."""
    receiver = _Addresses()
    resolver.resolveHostName(receiver, host, port)
    return receiver.done


@implementer(IResolutionReceiver)
class _Addresses:
    def __init__(self) -> None:
        self.done: Deferred[list[str]] = Deferred()
        self._found: list[str] = []

    def resolutionBegan(self, resolutionInProgress: IHostResolution) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        self._found.append(address.host)

    def resolutionComplete(self) -> None:
        if not self.done.called:  # it may have been cancelled (attempt timeout)
            self.done.callback(self._found)

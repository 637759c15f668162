"""Property tests: every parser of client or operator input either accepts it or refuses it
cleanly, whatever it is.

Clean means: the protocol answers an error message and closes with 4000 + code
(or Autobahn closes with a WebSocket code), and a config parser raises
``ValueError`` (which :class:`~incoming.config.Config` turns into one line naming
the option). Any other exception would be a traceback in the log, or a server
that does not start with a useful message.
"""

from __future__ import annotations

import ipaddress
import json
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.error import ConnectionDone
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure

from incoming import config as cfg
from incoming.errors import ErrorCode, IncomingError
from incoming.limits import client_address
from incoming.upload_protocol import _parse_hello
from test.support.harness import Server

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)
MESSAGE_TYPES = st.sampled_from(["hello", "pause", "unpause", "cancel", "welcome", "ack", "",
                                 "HELLO"])
messages = st.one_of(
    json_values,
    st.fixed_dictionaries({"type": MESSAGE_TYPES | json_values},
                          optional={"ticket": json_values | st.text(max_size=300),
                                    "size": json_values | st.integers(-5, 10**20),
                                    "filename": json_values | st.text(max_size=1100),
                                    "reason": json_values}),
)
anything = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(),
                     st.binary(max_size=20), st.lists(st.text(max_size=30), max_size=4),
                     st.lists(st.integers(), max_size=3), st.dictionaries(st.text(), st.text(),
                                                                          max_size=2))


# -- the upload protocol --------------------------------------------------------------------------

@FAST
@given(message=st.dictionaries(st.sampled_from(["type", "ticket", "size", "filename", "x"]),
                               json_values))
def test_parse_hello_accepts_or_refuses_with_bad_request(message: dict[str, Any]) -> None:
    """_parse_hello returns a well-typed triple or raises error 1, for any JSON object."""
    try:
        ticket, size, filename = _parse_hello(message)
    except IncomingError as e:
        assert e.code == ErrorCode.BAD_REQUEST and e.message
        return
    assert isinstance(ticket, str) and 0 < len(ticket) <= 256
    assert type(size) is int and size >= 0
    assert isinstance(filename, str) and len(filename) <= 1024


@pytest.fixture(scope="module")
def server() -> Server:
    return Server(__import__("pathlib").Path(tempfile.mkdtemp(prefix="incoming-props-")))


@pytest.fixture(scope="module")
def failures() -> Any:
    """Failures logged while a module's test runs (each test empties it first)."""
    caught: list[dict[str, Any]] = []

    def observe(event: dict[str, Any]) -> None:
        if event.get("log_failure") is not None or event.get("isError"):
            caught.append(event)

    globalLogPublisher.addObserver(observe)
    yield caught
    globalLogPublisher.removeObserver(observe)


def _answers_cleanly(conn: Any) -> None:
    """Every message the server wrote is JSON; an error names a known code and the close
    code matches it."""
    for message in conn.messages():
        assert isinstance(message.get("type"), str)
        if message["type"] == "error":
            code = ErrorCode(message["code"])
            assert conn.close_code in (None, 4000 + code)
    assert conn.close_code is None or conn.close_code == 1000 or 4000 < conn.close_code < 4100 \
        or conn.close_code in (1002, 1007)


@FAST
@given(first=messages, then=st.lists(messages, max_size=3), welcomed=st.booleans())
def test_any_json_text_is_handled_or_refused_cleanly(server: Server, failures: Any,
                                                     first: Any, then: list[Any],
                                                     welcomed: bool) -> None:
    """Arbitrary JSON, before or after a welcome, never raises and never logs a failure."""
    conn = server.connect()
    if welcomed:
        assert conn.hello(server.ticket(), 10)["type"] == "welcome"
    for message in [first, *then]:
        conn.send_text(json.dumps(message).encode())
        _answers_cleanly(conn)
    assert failures == []


@FAST
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_text_payload_is_refused_cleanly(server: Server, failures: Any, raw: bytes) -> None:
    """Arbitrary bytes in a text message get error 1 or close 1007 (not UTF-8), nothing else."""
    from test.unit.test_upload_protocol import handshake

    from test.support.harness import Connection

    conn = Connection(*handshake(server, peer="192.0.2.200")[:2])
    conn.send_text(raw)
    _answers_cleanly(conn)
    assert failures == []
    conn.protocol.connectionLost(Failure(ConnectionDone()))


# -- client_address -------------------------------------------------------------------------------

ips = st.ip_addresses().map(str)
header_parts = st.one_of(ips, st.text(max_size=15), st.just(""), st.just("::ffff:10.0.0.1"))


@FAST
@given(peer=st.one_of(ips, st.text(max_size=20)),
       header=st.none() | st.lists(header_parts, max_size=5).map(", ".join) | st.text(),
       trusted=st.lists(st.sampled_from(["10.0.0.0/8", "127.0.0.1/32", "::1/128",
                                         "fd00::/8", "0.0.0.0/0"]), max_size=3))
def test_client_address_is_the_peer_or_a_forwarded_address(peer: str, header: str | None,
                                                           trusted: list[str]) -> None:
    """It never raises; it names the peer, or (from a trusted peer only) an IP address that
    was in the header."""
    found = client_address(peer, header, tuple(trusted))
    try:
        peer_ip = ipaddress.ip_address(peer)
    except ValueError:
        assert found == peer
        return
    if peer_ip == ipaddress.ip_address(found) or (
            getattr(peer_ip, "ipv4_mapped", None) == ipaddress.ip_address(found)):
        return
    networks = [ipaddress.ip_network(t) for t in trusted]
    real_peer = getattr(peer_ip, "ipv4_mapped", None) or peer_ip
    assert any(real_peer.version == n.version and real_peer in n for n in networks)
    assert header is not None
    entries = [ipaddress.ip_address(e.strip()) for e in header.split(",")
               if _is_ip(e.strip())]
    assert ipaddress.ip_address(found) in entries + [e.ipv4_mapped for e in entries
                                                     if getattr(e, "ipv4_mapped", None)]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# -- the configuration's parsers ------------------------------------------------------------------

PARSERS = [cfg.parse_size, cfg.parse_duration, cfg.parse_bool, cfg.parse_listen,
           cfg.parse_endpoints, cfg.parse_text_list, cfg.parse_networks, cfg.parse_origins,
           cfg.parse_log_format, cfg.parse_file_mode, cfg.parse_text, cfg.parse_count]


@settings(max_examples=600, deadline=None)
@given(parse=st.sampled_from(PARSERS), value=anything)
def test_a_config_parser_accepts_or_raises_value_error(parse: Any, value: Any) -> None:
    """Whatever the config file or command line holds, a parser returns or raises ValueError."""
    try:
        parse(value)
    except ValueError as e:
        assert str(e)


@settings(max_examples=200, deadline=None)
@given(parse=st.sampled_from([cfg.parse_size, cfg.parse_duration]),
       text=st.from_regex(r"\A\s*\d{1,300}(\.\d{1,5})?\s*[a-zA-Z]{0,3}\s*\Z"))
def test_a_number_with_a_unit_parses_or_raises_value_error(parse: Any, text: str) -> None:
    """Numbers of up to 300 digits, with any unit-like suffix: a value or ValueError (longer
    ones overflow a float: see the next test)."""
    try:
        parse(text)
    except ValueError as e:
        assert str(e)


@FAST
@given(data=st.data(), unit=st.sampled_from(sorted(cfg._SIZE_UNITS)))
def test_sizes_round_trip(data: Any, unit: str) -> None:
    """``N UNIT`` is N times the unit, in any case and with spaces (up to 2**53 bytes, 8 PiB:
    see the next test)."""
    n = data.draw(st.integers(0, 2**53 // cfg._SIZE_UNITS[unit]))
    assert cfg.parse_size(f"{n}{unit}") == n * cfg._SIZE_UNITS[unit]
    assert cfg.parse_size(f" {n} {unit.upper()} ") == n * cfg._SIZE_UNITS[unit]
    assert cfg.parse_size(n) == n


def test_a_huge_duration_is_a_value_error() -> None:
    """A duration of 400 digits is refused, not taken as infinity."""
    with pytest.raises(ValueError):
        cfg.parse_duration("9" * 400)


def test_a_huge_size_is_exact() -> None:
    """A size of 400 digits is a whole number of bytes, not an overflow."""
    assert cfg.parse_size("9" * 400) == int("9" * 400)


def test_sizes_beyond_8_pib_are_exact() -> None:
    """A whole number of units is exact at any size."""
    assert cfg.parse_size("4611686019GB") == 4611686019 * 10**9


@FAST
@given(n=st.integers(0, 36500), unit=st.sampled_from(sorted(cfg._DURATION_UNITS)))
def test_durations_round_trip(n: int, unit: str) -> None:
    """``N UNIT`` is N times the unit in seconds; a bare number is seconds."""
    assert cfg.parse_duration(f"{n}{unit}") == pytest.approx(n * cfg._DURATION_UNITS[unit])
    assert cfg.parse_duration(n) == float(n)


@FAST
@given(value=st.booleans())
def test_booleans_round_trip(value: bool) -> None:
    """true/false in any spelling it accepts come back as they went in."""
    assert cfg.parse_bool(value) is value
    assert cfg.parse_bool(str(value)) is value
    assert cfg.parse_bool(str(value).upper()) is value


@FAST
@given(mode=st.integers(0, 0o777))
def test_file_modes_round_trip(mode: int) -> None:
    """An octal mode written with or without its leading 0 reads back as itself."""
    assert cfg.parse_file_mode(f"0{mode:03o}") == mode
    assert cfg.parse_file_mode(f"{mode:03o}") == mode


@FAST
@given(networks=st.lists(st.ip_addresses().map(str) | st.sampled_from(
    ["10.0.0.0/8", "192.168.1.7/24", "2001:db8::/32", " 127.0.0.1 "]), min_size=1, max_size=4))
def test_networks_normalise_idempotently(networks: list[str]) -> None:
    """Normalised networks parse to themselves again, and contain what was given."""
    parsed = cfg.parse_networks(networks)
    assert cfg.parse_networks(list(parsed)) == parsed
    for given_, network in zip(networks, parsed, strict=True):
        address = given_.strip().split("/")[0]
        assert ipaddress.ip_address(address) in ipaddress.ip_network(network)


@FAST
@given(origins=st.lists(st.builds(
    "{}://{}{}".format, st.sampled_from(["http", "https", "HTTPS"]),
    st.from_regex(r"\A[a-zA-Z0-9][a-zA-Z0-9.\-]{0,20}\Z"),
    st.sampled_from(["", ":80", ":8443", ":65535"])), min_size=1, max_size=3))
def test_origins_normalise_idempotently(origins: list[str]) -> None:
    """Origins come back lower-cased, and parse to themselves again."""
    parsed = cfg.parse_origins(origins)
    assert parsed == tuple(o.lower() for o in origins)
    assert cfg.parse_origins(list(parsed)) == parsed

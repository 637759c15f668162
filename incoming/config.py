"""The server's configuration: one attrs class, filled from TOML and the command line.

Every option has one name and three spellings: a top-level key in the TOML
file (``max_upload_size = "64GiB"``), a command-line option of ``twistd
incoming`` (``--max-upload-size 64GiB``) and a commented line in
``etc/incoming.toml``. :data:`OPTIONS` is the one list of them; the plugin
builds its command line from it and a test checks ``etc/incoming.toml``
against it. Values are validated here, once: a bad one raises
:class:`ConfigError` naming the option.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from fractions import Fraction
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from incoming.storage.location import S3Location


class ConfigError(Exception):
    """A configuration value is unusable; ``str()`` is one line naming the option."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"{option}: {problem}")
        self.option = option
        self.problem = problem


_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "": 1}
MAX_DURATION = 100 * 365 * 86400.0
_NUMBER_WITH_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: object) -> int:
    """``"64MiB"`` → 67108864; a bare integer is bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _NUMBER_WITH_UNIT.match(str(value))
    unit = match and match.group(2).lower()
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(f"{value!r} is not a size (examples: 1048576, 512KiB, 64MiB, 2GiB, 10GB)")
    return int(Fraction(match.group(1)) * _SIZE_UNITS[unit])  # exact, at any size


def parse_duration(value: object) -> float:
    """``"30s"`` → 30.0, ``"12h"`` → 43200.0; a bare number is seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _NUMBER_WITH_UNIT.match(str(value))
    unit = match and match.group(2).lower()
    if not match or unit not in _DURATION_UNITS:
        raise ValueError(f"{value!r} is not a duration (examples: 500ms, 30s, 5m, 12h, 7d)")
    seconds = Fraction(match.group(1)) * Fraction(_DURATION_UNITS[unit])
    if seconds > MAX_DURATION:
        raise ValueError(f"{value!r} is longer than a century")
    return float(seconds)


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean (true or false)")


def parse_listen(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and i for i in items):
        raise ValueError("must be an endpoint string or a list of them, like \"tcp:4000\"")
    if not items:
        raise ValueError("needs at least one endpoint, like \"tcp:4000\"")
    return tuple(items)


def parse_endpoints(value: object) -> tuple[str, ...]:
    """Like :func:`parse_listen`, but none at all is allowed (the option is then off)."""
    if value in ([], ()):
        return ()
    return parse_listen(value)


def parse_text_list(value: object) -> tuple[str, ...]:
    """A string or a list of non-empty strings (a repeatable option)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and i for i in items):
        raise ValueError("must be a non-empty string or a list of them")
    return tuple(items)


def parse_networks(value: object) -> tuple[str, ...]:
    """Addresses or networks such as ``127.0.0.1`` or ``10.0.0.0/8``, normalised."""
    networks = []
    for item in parse_text_list(value):
        try:
            networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(networks)


def parse_origins(value: object) -> tuple[str, ...]:
    """Web origins as browsers send them: ``scheme://host[:port]``, lower-cased."""
    origins = []
    for item in parse_text_list(value):
        match = re.fullmatch(r"(https?)://([a-z0-9.\-]+|\[[0-9a-f:.]+\])(:\d{1,5})?", item.lower())
        if not match:
            raise ValueError(f"{item!r} is not an origin like https://app.example.com")
        origins.append(item.lower())
    return tuple(origins)


def parse_log_format(value: object) -> str:
    text = str(value).strip().lower()
    if text not in ("text", "json"):
        raise ValueError(f"{value!r} is not a log format (text or json)")
    return text


ACKNOWLEDGE_MODES = ("kernel", "device")


def parse_acknowledge(value: object) -> str:
    text = str(value).strip().lower()
    if text not in ACKNOWLEDGE_MODES:
        raise ValueError(f"{value!r} is not kernel or device")
    return text


def parse_file_mode(value: object) -> int:
    """An octal permission mode such as ``0640``."""
    text = str(value).strip()
    if not re.fullmatch(r"0?[0-7]{3}", text):
        raise ValueError(f"{value!r} is not an octal file mode like 0640")
    return int(text, 8)


def parse_text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


STATE_SCHEMES = ("sqlite", "redis", "rediss")


def parse_state(value: object) -> str:
    """Where tickets live: ``sqlite:PATH``, ``redis://HOST:PORT/DB`` or ``rediss://…``;
    empty: ``sqlite:`` in the storage directory."""
    text = parse_text(value).strip()
    if text and text.partition(":")[0].lower() not in STATE_SCHEMES:
        raise ValueError(f"{text!r} is not sqlite:PATH, redis://HOST:PORT/DB or rediss://...")
    if text.lower().startswith("redis") and not text.lower().startswith(("redis://",
                                                                         "rediss://")):
        raise ValueError(f"{text!r}: a Redis URL starts with redis:// or rediss://")
    return text


def parse_storage(value: object) -> str:
    """Empty (files in storage_dir), or ``s3://BUCKET/PREFIX``."""
    text = parse_text(value).strip()
    if text:
        S3Location.parse(text)
    return text


def parse_count(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None


@attrs.frozen
class Option:
    """One configuration option: its name, how to read it, and its documentation."""

    name: str
    parse: Callable[[object], Any]
    default: str | tuple[str, ...]
    """As written in the config file; a tuple for a list (a repeatable flag)."""
    help: str

    @property
    def flag(self) -> str:
        return self.name.replace("_", "-")

    @property
    def repeatable(self) -> bool:
        return isinstance(self.default, tuple)

    @property
    def default_text(self) -> str:
        if self.repeatable:
            return ", ".join(self.default) or "none"
        return str(self.default)


OPTIONS: tuple[Option, ...] = (
    Option("listen", parse_listen, ("tcp:4000",),
           "Endpoint to listen on (Twisted endpoint syntax, e.g. tcp:4000:interface=127.0.0.1 "
           "or ssl:443:privateKey=key.pem:certKey=cert.pem); repeat for several."),
    Option("storage_dir", parse_text, "var/incoming",
           "Directory for uploaded files (partial/ and complete/) and the ticket database."),
    Option("storage", parse_storage, "",
           "Where finished files go: empty for files in storage_dir, or s3://BUCKET/PREFIX for "
           "S3-compatible object storage (endpoint and credentials from the usual AWS_* "
           "environment and profiles; parts wait in storage_dir until sent)."),
    Option("s3_endpoint_url", parse_text, "",
           "Endpoint of the S3-compatible service, e.g. http://127.0.0.1:9000 (empty: "
           "AWS_ENDPOINT_URL, or AWS itself)."),
    Option("s3_region", parse_text, "",
           "Region of the bucket (empty: AWS_REGION / AWS_DEFAULT_REGION or the profile's)."),
    Option("s3_profile", parse_text, "",
           "Profile of ~/.aws/config and credentials to use (empty: AWS_PROFILE or default)."),
    Option("s3_part_size", parse_size, "8MiB",
           "Smallest part of a multipart upload (S3 wants at least 5MiB; lower only for test "
           "servers); a file that would need more than 10000 parts gets larger ones."),
    Option("demo", parse_bool, "false",
           "Also serve the demo web app at / (it uses the public backend API like any web app)."),
    Option("max_upload_size", parse_size, "64GiB",
           "Largest file accepted; a ticket's maxSize can only lower it."),
    Option("chunk_size", parse_size, "1MiB",
           "Largest WebSocket binary message accepted (told to clients in welcome)."),
    Option("window_size", parse_size, "16MiB",
           "Bytes a client may send beyond the last acknowledgement (flow control)."),
    Option("write_buffer_size", parse_size, "64MiB",
           "Bytes received but not yet written, across all uploads, before the server stops "
           "reading from the network until the disk catches up."),
    Option("idle_timeout", parse_duration, "60s",
           "Close a connection that sends no hello, or no bytes while uploading, for this long."),
    Option("ping_interval", parse_duration, "20s",
           "Send a WebSocket ping this often; a peer that does not answer within this time "
           "(plus a second) is dropped."),
    Option("handover_timeout", parse_duration, "24h",
           "How long to keep retrying the callback to the backend before the ticket fails."),
    Option("handover_attempt_timeout", parse_duration, "30s",
           "How long one callback attempt may take before it counts as failed."),
    Option("handover_max_delay", parse_duration, "5m",
           "Longest pause between two callback attempts (the backoff doubles up to this)."),
    Option("ticket_lifetime", parse_duration, "7d",
           "A ticket whose upload has not completed and that saw no activity for this long "
           "expires."),
    Option("storage_threads", parse_count, "4",
           "Threads that write and hash uploaded bytes, off the network thread."),
    Option("acknowledge", parse_acknowledge, "device",
           "When received bytes count as written and are acknowledged: device = written to the "
           "storage device (O_DIRECT); kernel = handed to the operating system (buffered "
           "writes, each upload's write-back started at once and bounded). Either way the "
           "file is fdatasynced before it is stored."),
    Option("fast_receive", parse_bool, "true",
           "Read WebSocket payloads straight into storage and unmask them there (relies on "
           "Twisted's and Autobahn's internals, checked at start-up); false: their public "
           "APIs only, slower."),
    Option("file_mode", parse_file_mode, "0640",
           "Permissions of stored files (octal); 0660 lets the group take and remove them."),
    Option("file_group", parse_text, "",
           "Group that owns stored files, so that a backend running as another user in that "
           "group can take them (empty: the server user's group)."),
    # -- facing the internet (docs/security.rst) --
    Option("backend_listen", parse_endpoints, (),
           "Endpoint for the backend API, /metrics and /healthz alone (repeatable); when set, "
           "--listen serves only what browsers need. Use loopback or a private address."),
    Option("backend_api_key", parse_text_list, (),
           "API key a backend must send as 'Authorization: Bearer KEY' (repeatable); "
           "unset, the backend API and /metrics need no key."),
    Option("backend_api_key_file", parse_text, "",
           "File with more API keys, one a line (keeps them out of ps)."),
    Option("callback_signing_key", parse_text_list, (),
           "Standard Webhooks key (whsec_...) that signs every callback (repeatable: each "
           "key signs, for rotation)."),
    Option("callback_signing_key_file", parse_text, "",
           "File with more signing keys, one a line."),
    Option("callback_allow", parse_text_list, (),
           "Where callbacks may go (repeatable): URL prefixes (https://app.example.com/hooks/), "
           "host names, or networks (10.1.2.0/24). Unset: any http(s) URL."),
    Option("allowed_origin", parse_origins, (),
           "Web origin allowed to upload (repeatable), e.g. https://app.example.com; unset: any "
           "origin (the ticket is the capability)."),
    Option("trusted_proxy", parse_networks, (),
           "Address or network of a reverse proxy whose X-Forwarded-For names the client "
           "(repeatable), e.g. 127.0.0.1."),
    Option("max_connections", parse_count, "10000",
           "Open connections on the public endpoints, in total; more are refused with 503."),
    Option("max_connections_per_address", parse_count, "2000",
           "Open upload connections from one client address; more are refused with 429."),
    Option("connection_rate_per_address", parse_count, "2000",
           "New upload connections per second from one client address; more are refused "
           "with 429."),
    Option("request_timeout", parse_duration, "30s",
           "An HTTP request's headers (and a backend API request's body) must arrive within "
           "this long; slower clients are cut. Upload bytes fall under idle_timeout instead."),
    Option("log_format", parse_log_format, "text",
           "Log as readable text or as JSON lines (json)."),
    # -- several instances (docs/scaling.rst) --
    Option("state", parse_state, "",
           "Where tickets live: sqlite:PATH (one instance; empty: sqlite:STORAGE_DIR/"
           "tickets.sqlite3), or redis://HOST:PORT/DB or rediss://... (TLS), shared by "
           "every instance."),
    Option("lease_time", parse_duration, "30s",
           "With Redis state: how long an instance's claim on a ticket lasts without renewal; "
           "a dead instance's uploads move to the others within this, its handovers within "
           "this plus 30s."),
)

OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}


def _default(name: str) -> Any:
    option = OPTIONS_BY_NAME[name]
    return option.parse(option.default)


@attrs.frozen
class Config:
    """Validated settings of one server process. Sizes in bytes, durations in seconds."""

    listen: tuple[str, ...] = _default("listen")
    storage_dir: str = _default("storage_dir")
    storage: str = _default("storage")
    s3_endpoint_url: str = _default("s3_endpoint_url")
    s3_region: str = _default("s3_region")
    s3_profile: str = _default("s3_profile")
    s3_part_size: int = _default("s3_part_size")
    demo: bool = _default("demo")
    max_upload_size: int = _default("max_upload_size")
    chunk_size: int = _default("chunk_size")
    window_size: int = _default("window_size")
    write_buffer_size: int = _default("write_buffer_size")
    idle_timeout: float = _default("idle_timeout")
    ping_interval: float = _default("ping_interval")
    handover_timeout: float = _default("handover_timeout")
    handover_attempt_timeout: float = _default("handover_attempt_timeout")
    handover_max_delay: float = _default("handover_max_delay")
    ticket_lifetime: float = _default("ticket_lifetime")
    storage_threads: int = _default("storage_threads")
    acknowledge: str = _default("acknowledge")
    fast_receive: bool = _default("fast_receive")
    file_mode: int = _default("file_mode")
    file_group: str = _default("file_group")
    backend_listen: tuple[str, ...] = _default("backend_listen")
    backend_api_key: tuple[str, ...] = _default("backend_api_key")
    backend_api_key_file: str = _default("backend_api_key_file")
    callback_signing_key: tuple[str, ...] = _default("callback_signing_key")
    callback_signing_key_file: str = _default("callback_signing_key_file")
    callback_allow: tuple[str, ...] = _default("callback_allow")
    allowed_origin: tuple[str, ...] = _default("allowed_origin")
    trusted_proxy: tuple[str, ...] = _default("trusted_proxy")
    max_connections: int = _default("max_connections")
    max_connections_per_address: int = _default("max_connections_per_address")
    connection_rate_per_address: int = _default("connection_rate_per_address")
    request_timeout: float = _default("request_timeout")
    log_format: str = _default("log_format")
    state: str = _default("state")
    lease_time: float = _default("lease_time")

    @classmethod
    def from_values(cls, values: Mapping[str, object]) -> Config:
        """Build from raw values (TOML or command line), parsing and validating each."""
        parsed: dict[str, Any] = {}
        for name, raw in values.items():
            option = OPTIONS_BY_NAME.get(name)
            if option is None:
                raise ConfigError(name, f"unknown option (known: {', '.join(OPTIONS_BY_NAME)})")
            try:
                parsed[name] = option.parse(raw)
            except ValueError as e:
                raise ConfigError(name, str(e)) from None
        config = cls(**parsed)
        config.check()
        return config

    def check(self) -> None:
        """Reject combinations that cannot work, naming the option at fault."""
        _at_least("chunk_size", self.chunk_size, 4096)
        _at_most("chunk_size", self.chunk_size, 64 * 2**20)
        _at_least("window_size", self.window_size, self.chunk_size, "chunk_size")
        _at_least("max_upload_size", self.max_upload_size, 1)
        _at_least("write_buffer_size", self.write_buffer_size, self.chunk_size, "chunk_size")
        _at_least("storage_threads", self.storage_threads, 1)
        _at_least("s3_part_size", self.s3_part_size, 64 << 10)
        _at_most("s3_part_size", self.s3_part_size, 5 << 30)
        _at_most("storage_threads", self.storage_threads, 64)
        for name in ("max_connections", "max_connections_per_address",
                     "connection_rate_per_address"):
            _at_least(name, getattr(self, name), 1)
        for name in ("idle_timeout", "ping_interval", "handover_timeout",
                     "handover_attempt_timeout", "handover_max_delay", "ticket_lifetime",
                     "request_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(name, "must be longer than zero")
        if not self.storage_dir:
            raise ConfigError("storage_dir", "must name a directory")
        _at_least("lease_time", self.lease_time, 1.0)


def _at_least(name: str, value: float, limit: float, limit_name: str = "") -> None:
    if value < limit:
        what = f"{limit_name} ({limit})" if limit_name else f"the minimum {limit}"
        raise ConfigError(name, f"{value} is below {what}")


def _at_most(name: str, value: float, limit: float) -> None:
    if value > limit:
        raise ConfigError(name, f"{value} is above the maximum {limit}")


def sqlite_path(config: Config) -> str | None:
    """The SQLite file ``state`` names (its default in the storage directory), or None for
    a shared (Redis) state."""
    if config.state.lower().startswith("sqlite:"):
        return config.state.partition(":")[2] or os.path.join(config.storage_dir,
                                                              "tickets.sqlite3")
    return None if config.state else os.path.join(config.storage_dir, "tickets.sqlite3")


def read_list_file(option: str, path: str) -> list[tuple[int, str]]:
    """The values of a key file with their line numbers: one value a line; blank lines and
    ``#`` comments skipped. Unreadable: ConfigError naming ``option``."""
    if not path:
        return []
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError) as e:
        problem = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise ConfigError(option, f"cannot read {path}: {problem}") from None
    return [(number, line) for number, line in enumerate(lines, 1)
            if line and not line.startswith("#")]


def api_keys(config: Config) -> tuple[str, ...]:
    """Every backend API key: those given directly and those in the key file."""
    keys = config.backend_api_key + tuple(
        key for _, key in read_list_file("backend_api_key_file", config.backend_api_key_file))
    for key in keys:
        if len(key) < 16 or any(c.isspace() for c in key):
            raise ConfigError("backend_api_key",
                              "a key must be at least 16 characters, without spaces")
    return keys


def load(config_file: str | None, overrides: Mapping[str, object]) -> Config:
    """Read ``config_file`` (TOML, optional), apply command-line ``overrides`` on top."""
    values: dict[str, object] = {}
    if config_file:
        try:
            with open(config_file, "rb") as f:
                values.update(tomllib.load(f))
        except OSError as e:
            raise ConfigError("config", f"cannot read {config_file}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError("config", f"{config_file} is not valid TOML: {e}") from None
    values.update(overrides)
    return Config.from_values(values)

"""A real ``redis-server`` (Debian's package) for tests, on a free loopback port.

:func:`redis_factory` is the logic behind the fixtures: a context manager
yielding a callable that starts a server in its own directory (no persistence)
and stops every one it started at the end. :meth:`RedisServer.command_calls`
reads ``INFO commandstats``: what the shared state costs per upload.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from test.support.tls import self_signed

START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``tls``: TLS only, with a self-signed certificate (``url`` is then ``rediss://``,
    trusting that certificate; the certificate names no IP address, so the URL turns the
    host name check off)."""

    def __init__(self, base_dir: Path, tls: bool = False) -> None:
        self.dir = base_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = self.dir / "redis.log"
        self.certificate: Path | None = None
        self._tls_args: list[str] = []
        if tls:
            key, self.certificate = self_signed(self.dir)
            self._tls_args = ["--tls-cert-file", str(self.certificate), "--tls-key-file",
                              str(key), "--tls-ca-cert-file", str(self.certificate),
                              "--tls-auth-clients", "no"]

    @property
    def url(self) -> str:
        if self.certificate is None:
            return f"redis://127.0.0.1:{self.port}/0"
        return (f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.certificate}"
                f"&ssl_check_hostname=false")

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)

    def start(self, same_port: bool = False) -> RedisServer:
        """Start on a free port (``same_port``: on the port of the last start, as after an
        outage)."""
        executable = shutil.which("redis-server") or "/usr/bin/redis-server"
        for _ in range(1 if same_port else 5):  # the port may be taken before it is bound
            self.port = self.port if same_port else free_port()
            ports = (["--port", "0", "--tls-port", str(self.port)] if self._tls_args
                     else ["--port", str(self.port)])
            self.process = subprocess.Popen(
                [executable, *ports, *self._tls_args, "--bind", "127.0.0.1", "--dir",
                 str(self.dir), "--save", "", "--appendonly", "no", "--logfile",
                 str(self.log_file)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                start_new_session=True)
            if self._wait_ready():
                return self
            self.stop()
        raise AssertionError(f"redis-server did not start:\n{self.log()}")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(redis.RedisError):
                if self.client().ping():
                    return True
            time.sleep(0.05)
        return False

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def command_calls(self) -> dict[str, int]:
        """Calls per command since the start (``INFO commandstats``), scripts' inner calls
        included."""
        stats = self.client().info("commandstats")
        return {name.removeprefix("cmdstat_"): int(value["calls"])  # type: ignore[index]
                for name, value in stats.items()}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@contextlib.contextmanager
def redis_factory(base_dir: Path) -> Iterator[Callable[..., RedisServer]]:
    """Yields ``make(tls=False)``, which starts a fresh server; all are stopped at the end."""
    made: list[RedisServer] = []

    def make(tls: bool = False) -> RedisServer:
        server = RedisServer(base_dir / f"redis{len(made) + 1}", tls)
        made.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in made:
            server.stop()

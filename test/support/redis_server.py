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

START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self, base_dir: Path) -> None:
        self.dir = base_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = self.dir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)

    def start(self, same_port: bool = False) -> RedisServer:
        """Start on a free port (``same_port``: on the port of the last start, as after an
        outage)."""
        executable = shutil.which("redis-server") or "/usr/bin/redis-server"
        for _ in range(1 if same_port else 5):  # the port may be taken before it is bound
            self.port = self.port if same_port else free_port()
            self.process = subprocess.Popen(
                [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
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
def redis_factory(base_dir: Path) -> Iterator[Callable[[], RedisServer]]:
    """Yields ``make()``, which starts a fresh server; all are stopped at the end."""
    made: list[RedisServer] = []

    def make() -> RedisServer:
        server = RedisServer(base_dir / f"redis{len(made) + 1}")
        made.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in made:
            server.stop()

"""Starting and stopping the processes under test, each bounded in time."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO


class ServerProcess:
    """A child process under test, its log file, and how to stop it.

    ``pid`` is the process whose /proc is sampled, so the command must run the server itself
    (no shell, no daemonizing).
    """

    def __init__(
        self,
        argv: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        stdin: int | None = subprocess.DEVNULL,
        announces_port: bool = True,
    ):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.argv = argv
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 (closed by stop())
        # A server that prints "LISTENING <port>" is read through a pipe; any other (twistd)
        # logs straight into the file, so that a full pipe can never stall it.
        self.popen = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=subprocess.PIPE if announces_port else self._log,
            stderr=self._log,
            env=env,
            start_new_session=True,  # its own group: stopping it stops its children
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def read_line_starting(self, prefix: str, timeout: float) -> str:
        """Wait for a stdout line starting with ``prefix`` (e.g. ``LISTENING``); return it."""
        assert self.popen.stdout is not None
        deadline = time.monotonic() + timeout
        fd = self.popen.stdout.fileno()
        os.set_blocking(fd, False)
        pending = b""
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                break  # the process closed stdout: it has died
            if chunk:
                pending += chunk
                self._log.write(chunk)
                self._log.flush()
                for line in pending.decode(errors="replace").splitlines():
                    if line.startswith(prefix):
                        os.set_blocking(fd, True)
                        return line
                continue
            if self.popen.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(
            f"{self.argv[0]} did not print {prefix!r} in {timeout}s; see {self.log_path}"
        )

    def wait_for_port(self, port: int, timeout: float) -> None:
        """Wait until the server accepts TCP connections on loopback ``port``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"{self.argv[0]} exited with {self.popen.returncode}; see {self.log_path}"
                )
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nothing listens on port {port} after {timeout}s; see {self.log_path}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM its process group, SIGKILL after ``timeout``; always reap it."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        if self.popen.stdin:
            self.popen.stdin.close()
        if self.popen.stdout:
            # Keep what it printed after the ready line (drained without blocking forever).
            os.set_blocking(self.popen.stdout.fileno(), False)
            try:
                rest = self.popen.stdout.read()
                if rest:
                    self._log.write(rest)
            except (BlockingIOError, ValueError):
                pass
            self.popen.stdout.close()
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def free_loopback_port() -> int:
    """A port that was free a moment ago, for servers that cannot report an ephemeral one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

"""A real ``twistd -n incoming`` process for integration and browser tests.

:class:`IncomingServer` starts the server as a subprocess on a free loopback
port, with its own storage directory, and waits (polling, with a deadline)
until it accepts connections. Its log (stdout and stderr of twistd) goes to a
file beside the storage directory, so a long-running test never blocks on a
full pipe, and a failing test can show it.

:func:`server_factory` is the logic behind the pytest fixtures: a context
manager yielding a callable that starts servers and stops them all at the end.
A ``conftest.py`` wraps it in a fixture of whatever scope it needs::

    @pytest.fixture
    def make_server(tmp_path):
        with server_factory(tmp_path) as make:
            yield make
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
CLEAN_EXITS = (0, -signal.SIGTERM)
"""Exit statuses of a twistd that shut down in order after SIGTERM (see
:meth:`IncomingServer.stop`)."""
_PORT_LINE = re.compile(r"Site starting on (\d+)")
_counter = itertools.count(1)


def twistd_path() -> str:
    """The ``twistd`` of the Python running the tests (the project's venv)."""
    beside = Path(sys.executable).with_name("twistd")
    if beside.exists():
        return str(beside)
    return "twistd"


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.02,
               message: str | Callable[[], str] = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; that value. Fails at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:g}s waiting for {text}")
        time.sleep(interval)


def option_args(options: Mapping[str, Any]) -> list[str]:
    """``{"handover_timeout": "2s"}`` → ``["--handover-timeout", "2s"]`` (lists repeat)."""
    args: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is None or value is False:
            continue
        elif isinstance(value, (list, tuple)):
            for item in value:
                args += [flag, str(item)]
        else:
            args += [flag, str(value)]
    return args


def toml_text(values: Mapping[str, Any]) -> str:
    """A flat TOML document (strings, numbers, booleans, lists of strings)."""
    def render(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(render(v) for v in value) + "]"
        text = str(value).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{text}"'
    return "".join(f"{key} = {render(value)}\n" for key, value in values.items())


class ServerFailed(AssertionError):
    pass


class IncomingServer:
    """One ``twistd -n incoming`` subprocess.

    ``options`` are config names with values (``handover_timeout="2s"``),
    passed as command-line options; ``config`` is written to a TOML file and
    passed with ``--config``; ``extra_args`` are appended as they are.
    ``twistd``: another installation's (default: the one beside the tests' Python).
    """

    def __init__(self, base_dir: Path | str, options: Mapping[str, Any] | None = None,
                 config: Mapping[str, Any] | None = None, extra_args: Sequence[str] = (),
                 storage_dir: Path | str | None = None, name: str | None = None,
                 twistd: str | None = None, separate_backend: bool = False) -> None:
        self.name = name or f"server{next(_counter)}"
        self.twistd = twistd or twistd_path()
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.storage_dir = (Path(storage_dir) if storage_dir
                            else self.base_dir / f"{self.name}-storage")
        self.options = dict(options or {})
        self.extra_args = list(extra_args)
        self.config_file: Path | None = None
        if config is not None:
            self.config_file = self.base_dir / f"{self.name}.toml"
            self.config_file.write_text(toml_text(config))
        self.log_file = self.base_dir / f"{self.name}.log"
        self.port: int | None = None
        self.separate_backend = separate_backend
        """Serve the backend API, /metrics and /healthz on a listener of their own."""
        self.backend_port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log_handle: Any = None
        self._log_start = 0
        self.starts = 0
        self.allow_log_errors = False
        """Set by a test that provokes tracebacks on purpose (the factory then ignores them)."""

    # -- what tests use -------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        assert self.port is not None, "the server has not started"
        return f"http://{self.host}:{self.port}"

    @property
    def backend_base_url(self) -> str:
        """Where the backend API is: the backend listener's address, where there is one."""
        assert self.backend_port is not None, "the server has not started"
        return f"http://{self.host}:{self.backend_port}"

    @property
    def api_url(self) -> str:
        return f"{self.backend_base_url}/incoming/0.1/backend"

    @property
    def ws_path(self) -> str:
        return "/incoming/0.1/frontend/upload_ws"

    @property
    def log(self) -> str:
        """Everything the server wrote, across restarts."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def current_log(self) -> str:
        """What the server wrote since its latest start."""
        return self.log[self._log_start:]

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self, port: int | None = None) -> list[str]:
        listen = f"tcp:{port or 0}:interface={self.host}"
        args = [self.twistd, "-n", "--pidfile=", "incoming", "--listen", listen,
                "--storage-dir", str(self.storage_dir)]
        if self.separate_backend:
            args += ["--backend-listen", f"tcp:{self.backend_port or 0}:interface={self.host}"]
        if self.config_file is not None:
            args += ["--config", str(self.config_file)]
        return args + option_args(self.options) + self.extra_args

    def start(self, timeout: float = START_TIMEOUT) -> IncomingServer:
        """Start on a new free port (or, after a first start, on the same port) and wait."""
        assert not self.running, "already running"
        self._log_start = len(self.log)
        self._log_handle = open(self.log_file, "ab")  # noqa: SIM115 (closed when it exits)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            self.command(self.port), stdin=subprocess.DEVNULL, stdout=self._log_handle,
            stderr=subprocess.STDOUT, cwd=self.base_dir, env=env, start_new_session=True)
        self.starts += 1
        try:
            self._wait_listening(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def stop(self, timeout: float = STOP_TIMEOUT, check: bool = True) -> int:
        """SIGTERM, wait for the exit; with ``check``, assert that it exited cleanly.

        Clean means: twistd's orderly shutdown ran to its end ("Server Shut
        Down." logged) and the exit status is 0, or death by the SIGTERM
        itself — twistd re-raises the signal that stopped it once it is done
        (``twisted.application.app._exitWithSignal``), so that is how a
        clean twistd ends; systemd counts it as a success.
        """
        code = self._signal_and_wait(signal.SIGTERM, timeout)
        if check and not (code in CLEAN_EXITS and "Server Shut Down." in self.current_log):
            raise ServerFailed(f"{self.name} exited with {code} after SIGTERM\n{self._log_tail()}")
        return code

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self._signal_and_wait(signal.SIGKILL, STOP_TIMEOUT)
        self._close_log()

    def restart(self, hard: bool = False, timeout: float = START_TIMEOUT) -> IncomingServer:
        """Stop (SIGTERM, or SIGKILL if ``hard``) and start again: same storage dir, same port."""
        if self.running:
            if hard:
                self.kill()
            else:
                self.stop()
        return self.start(timeout)

    def wait_for_log(self, pattern: str, timeout: float = 10.0,
                     since_start: bool = True) -> re.Match[str]:
        """Poll the log until ``pattern`` (a regex) appears; the match."""
        compiled = re.compile(pattern)
        return wait_until(
            lambda: compiled.search(self.current_log if since_start else self.log), timeout,
            interval=0.05,
            message=lambda: f"{pattern!r} in the log of {self.name}\n{self._log_tail()}")

    def errors_in_log(self) -> list[str]:
        """Tracebacks and unhandled errors the server logged (a healthy run has none)."""
        markers = ("Traceback (most recent call last)", "Unhandled error", "Unhandled Error",
                   "#critical]", "#error]")
        return [line for line in self.log.splitlines()
                if any(m in line for m in markers) and "#debug]" not in line]

    def error_report(self, limit: int = 3, context: int = 20) -> str:
        """The first ``limit`` errors of the log, each with the lines after it (debug lines left
        out)."""
        lines = [line for line in self.log.splitlines() if "#debug]" not in line]
        errors = set(self.errors_in_log())
        reports: list[str] = []
        seen_until = -1
        for number, line in enumerate(lines):
            if number <= seen_until or line not in errors:
                continue
            reports.append("\n".join(lines[number:number + context]))
            seen_until = number + context
            if len(reports) == limit:
                break
        return "\n...\n".join(reports)

    def complete_path(self, ticket_id: str) -> Path:
        return self.storage_dir / "complete" / ticket_id

    def partial_path(self, ticket_id: str) -> Path:
        return self.storage_dir / "partial" / ticket_id

    # -- internals ------------------------------------------------------------------------------

    def _wait_listening(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ServerFailed(f"{self.name} exited with {self.process.returncode} while "
                                   f"starting\n{self._log_tail()}")
            # dict: each port once, in order (a JSON log line names it twice)
            ports = list(dict.fromkeys(int(p) for p in _PORT_LINE.findall(self.current_log)))
            if len(ports) == (2 if self.separate_backend else 1) and self._answers(ports[0]):
                self.port = ports[0]
                self.backend_port = ports[-1]
                return
            if time.monotonic() >= deadline:
                raise ServerFailed(f"{self.name} did not listen within {timeout:g}s\n"
                                   f"{self._log_tail()}")
            time.sleep(0.02)

    def _answers(self, port: int) -> bool:
        """Whether an HTTP request is answered: the reactor runs (twistd binds ports before it
        does, and until it runs, its SIGTERM handler is not installed)."""
        try:
            with socket.create_connection((self.host, port), timeout=2.0) as sock:
                sock.sendall(b"GET /incoming/0.1/ HTTP/1.0\r\nHost: x\r\n\r\n")
                return sock.recv(16).startswith(b"HTTP/1.")
        except OSError:
            return False

    def _signal_and_wait(self, signum: int, timeout: float) -> int:
        assert self.process is not None, "never started"
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            self._close_log()
            raise ServerFailed(f"{self.name} did not exit within {timeout:g}s of signal "
                               f"{signum}\n{self._log_tail()}") from None
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def _log_tail(self, lines: int = 60) -> str:
        tail = "\n".join(self.log.splitlines()[-lines:])
        return f"---- log of {self.name} ----\n{tail}"


def run_twistd(args: Sequence[str], cwd: Path | str,
               timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
    """Run ``twistd -n --pidfile= incoming ARGS`` to its end (for start-up failures)."""
    return subprocess.run([twistd_path(), "-n", "--pidfile=", "incoming", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"), stdin=subprocess.DEVNULL)


@contextlib.contextmanager
def server_factory(base_dir: Path | str,
                   check_log: bool = True) -> Iterator[Callable[..., IncomingServer]]:
    """Yields ``make(options=None, config=None, extra_args=(), start=True,
    separate_backend=False, storage_dir=None, **option_values)`` (``storage_dir``: one that
    several servers share, as instances over a shared file system do).

    Every server made is stopped at the end with SIGTERM, and must exit with 0;
    with ``check_log``, a server that logged a traceback fails the test too.
    Option values can be given as keywords: ``make(handover_timeout="2s")``.
    """
    made: list[IncomingServer] = []

    def make(options: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None,
             extra_args: Sequence[str] = (), start: bool = True, separate_backend: bool = False,
             storage_dir: Path | str | None = None, **option_values: Any) -> IncomingServer:
        server = IncomingServer(base_dir, options={**(options or {}), **option_values},
                                config=config, extra_args=extra_args,
                                separate_backend=separate_backend, storage_dir=storage_dir)
        made.append(server)
        if start:
            server.start()
        return server

    try:
        yield make
    finally:
        problems: list[str] = []
        for server in made:
            try:
                if server.running:
                    server.stop()
            except ServerFailed as e:
                problems.append(str(e))
            finally:
                server.kill()
            if check_log and not server.allow_log_errors and server.errors_in_log():
                problems.append(f"{server.name} logged errors:\n" + server.error_report())
        if problems:
            raise ServerFailed("\n\n".join(problems))

"""Debian's nginx, run by the tests with the configuration files this repository ships.

:func:`check` runs ``nginx -t`` on one shipped file as it is, with only what
cannot be on a test machine replaced: the TLS certificate (a fresh
self-signed one), where the shared snippet lives (this checkout), and the
listen addresses (``nginx -t`` binds them: free loopback ports instead).

:class:`NginxFront` runs nginx in front of any number of Incoming!! instances
(a list of ports): a shipped file, with its listeners moved to free loopback
ports, TLS left out, and its upstream blocks listing the given instances. nginx
runs as a child process in the foreground with a prefix of its own, so tests
in parallel do not meet; its error log goes to a file for failing tests to show::

    front = NginxFront(tmp_path, CLUSTER_CONF, upstreams_for(servers))
    front.start()       # front.url, front.backend_url
    front.set_upstreams(upstreams_for(others)); front.reload()  # another set of instances
    front.stop()
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from test.support.server import IncomingServer, wait_until
from test.support.tls import self_signed

ROOT = Path(__file__).resolve().parent.parent.parent
ETC_NGINX = ROOT / "etc" / "nginx"
LOCATIONS = ETC_NGINX / "incoming-locations.conf"
SINGLE_CONF = ETC_NGINX / "incoming.conf"
CLUSTER_CONF = ETC_NGINX / "incoming-cluster.conf"
SHIPPED_SNIPPET = "/etc/nginx/snippets/incoming-locations.conf"
"""Where the shipped server blocks expect the snippet (Debian's snippets folder)."""

START_TIMEOUT = 15.0
OLD_WORKER_QUITS = "gracefully shutting down"
"""What nginx's error log says (level notice) when a reload tells an old worker to quit."""


def nginx_binary() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(found).exists(), "nginx is not installed (./dev test installs it)"
    return found


def free_port() -> int:
    """A loopback port free right now (nginx cannot report a port 0 it was given)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ACCESS_LOG_FORMAT = ("log_format upstream '$remote_addr - $remote_user [$time_local] "
                     "\"$request\" $status $body_bytes_sent upstream=$upstream_addr';")
"""nginx's "combined" format cut short, with the instance (or instances, after a failover)
each request went to: :meth:`NginxFront.upstream_addresses` reads it."""


def main_conf(prefix: Path, site: Path) -> str:
    """The nginx.conf around one site file: everything under ``prefix``, in the foreground."""
    # As root the workers would otherwise become "nobody", who cannot read the test's files.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {prefix}/{kind}_temp;"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"{user}daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/error.log info;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n    {ACCESS_LOG_FORMAT}\n    access_log {prefix}/access.log upstream;\n"
            f"{temp}\n    include {site};\n}}\n")


def command(prefix: Path, *more: str) -> list[str]:
    return [nginx_binary(), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
            "-e", str(prefix / "error.log"), *more]


def with_local_snippet(text: str) -> str:
    return text.replace(SHIPPED_SNIPPET, str(LOCATIONS))


def check(conf: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on a shipped file, changed only where a test machine must differ: the
    certificate, the snippet's place, and listen addresses (``nginx -t`` binds them)."""
    prefix.mkdir(parents=True, exist_ok=True)
    text = moved_listeners(with_local_snippet(conf.read_text()), free_port(), free_port(),
                           tls=True)
    text = with_test_certificate(text, prefix)
    site = prefix / conf.name
    site.write_text(text)
    (prefix / "nginx.conf").write_text(main_conf(prefix, site))
    return subprocess.run(command(prefix, "-t"), capture_output=True, text=True, timeout=30)


def with_test_certificate(text: str, directory: Path) -> str:
    """The shipped certificate paths replaced by a fresh self-signed one's for 127.0.0.1."""
    key, cert = self_signed(directory)
    text = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", text)
    return re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", text)


def moved_listeners(text: str, port: int, private_port: int, tls: bool) -> str:
    """The public ``listen 443 ssl`` on loopback ``port`` (over TLS or not), a private
    listener (an address with a port) on loopback ``private_port``."""
    text = re.sub(r"listen [\d.]+:\d+;", f"listen 127.0.0.1:{private_port};", text)
    return text.replace("listen 443 ssl;", f"listen 127.0.0.1:{port}{' ssl' if tls else ''};")


def runnable(text: str, port: int, backend_port: int, upstreams: Mapping[str, Sequence[int]],
             tls_dir: Path | None = None) -> str:
    """A shipped server file made to run here: loopback ports, given upstreams.

    The public ``listen 443 ssl`` becomes ``port``, over TLS with a test
    certificate (made in ``tls_dir``) if there is one, else plain HTTP (which
    browsers take without complaint); a private listener (an
    address with a port) becomes ``backend_port``; each ``upstream NAME``
    named in ``upstreams`` lists ``127.0.0.1:PORT`` for each of its ports,
    keeping the upstream's other directives (``least_conn``) and each
    server's parameters (``max_fails``…).
    """
    text = moved_listeners(with_local_snippet(text), port, backend_port, tls=bool(tls_dir))
    if tls_dir:
        text = with_test_certificate(text, tls_dir)
    else:
        text = re.sub(r"^\s*ssl_certificate(_key)?\s.*\n", "", text, flags=re.MULTILINE)

    def servers(match: re.Match[str]) -> str:
        name, body = match.group(1), match.group(2)
        if name not in upstreams:
            return match.group(0)
        lines = body.splitlines(keepends=True)
        params = next((line.split(None, 2)[2].strip() for line in lines
                       if line.strip().startswith("server ") and len(line.split()) > 2), ";")
        kept = [line for line in lines if not line.strip().startswith("server ")]
        listed = [f"    server 127.0.0.1:{p} {params}\n".replace(" ;", ";")
                  for p in upstreams[name]]
        return f"upstream {name} {{{''.join(kept)}{''.join(listed)}}}"

    return re.sub(r"upstream (\w+) \{(.*?)\}", servers, text, flags=re.DOTALL)


def upstreams_for(servers: Sequence[IncomingServer]) -> dict[str, list[int]]:
    """The upstream lists of incoming-cluster.conf for these instances (each with a backend
    listener of its own, or its backend API on its one port)."""
    return {"incoming": [s.port for s in servers if s.port is not None],
            "incoming_backend": [s.backend_port for s in servers if s.backend_port is not None]}


class NginxFailed(AssertionError):
    pass


class NginxFront:
    """nginx, from a shipped server file, in front of Incoming!! instances on loopback."""

    def __init__(self, base_dir: Path | str, conf: Path,
                 upstreams: Mapping[str, Sequence[int]], name: str = "nginx",
                 tls: bool = False) -> None:
        self.prefix = Path(base_dir) / name
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.conf = conf
        self.tls = tls
        """Serve the public listener over TLS, as shipped (a self-signed certificate)."""
        self.upstreams = dict(upstreams)
        self.port = 0
        self.backend_port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """What browsers reach: ``http://127.0.0.1:PORT`` (``https`` with ``tls``)."""
        return f"http{'s' if self.tls else ''}://127.0.0.1:{self.port}"

    @property
    def backend_url(self) -> str:
        """The private listener of incoming-cluster.conf (the backend API of every instance)."""
        return f"http://127.0.0.1:{self.backend_port}"

    @property
    def error_log(self) -> str:
        return self._read("error.log")

    @property
    def access_log(self) -> str:
        return self._read("access.log")

    def upstream_ports(self, request_part: str) -> set[int]:
        """The upstream ports that served requests whose request line contains
        ``request_part`` (each one tried, where nginx passed a request on)."""
        ports: set[int] = set()
        for line in self.access_log.splitlines():
            if request_part in line.partition('" ')[0]:
                ports.update(int(port) for port in
                             re.findall(r"127\.0\.0\.1:(\d+)", line.rpartition("upstream=")[2]))
        return ports

    def set_upstreams(self, upstreams: Mapping[str, Sequence[int]]) -> None:
        """New instance ports; they take effect at the next :meth:`reload`."""
        self.upstreams = dict(upstreams)

    def start(self, attempts: int = 3) -> NginxFront:
        """Pick free ports and start; again on other ports if one was taken meanwhile."""
        for attempt in range(attempts):
            self.port, self.backend_port = free_port(), free_port()
            self._write()
            self.process = subprocess.Popen(command(self.prefix), stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True)
            if self._wait_listening():
                return self
            if "Address already in use" not in self.error_log or attempt == attempts - 1:
                raise NginxFailed(f"nginx did not start\n{self.error_log[-3000:]}")
        raise AssertionError("unreachable")

    def reload(self) -> None:
        """Rewrite the configuration (new upstreams) and have nginx load it (SIGHUP)."""
        assert self.process is not None and self.process.poll() is None, "not running"
        self._write()
        checked = subprocess.run(command(self.prefix, "-t"), capture_output=True, text=True,
                                 timeout=30)
        assert checked.returncode == 0, checked.stderr
        before = self.error_log.count(OLD_WORKER_QUITS)
        self.process.send_signal(signal.SIGHUP)
        # The old worker closes its listening socket as it logs this (it keeps its open
        # connections until they end): from then on every new connection meets the new
        # configuration.
        wait_until(lambda: self.error_log.count(OLD_WORKER_QUITS) > before, START_TIMEOUT,
                   message=lambda: f"nginx's old worker to quit\n{self.error_log[-3000:]}")

    def stop(self) -> None:
        """Fast shutdown (SIGTERM: open connections are closed, not waited for)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)

    def __enter__(self) -> NginxFront:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _read(self, name: str) -> str:
        path = self.prefix / name
        return path.read_text(errors="replace") if path.exists() else ""

    def _write(self) -> None:
        site = self.prefix / self.conf.name
        site.write_text(runnable(self.conf.read_text(), self.port, self.backend_port,
                                 self.upstreams, self.prefix if self.tls else None))
        (self.prefix / "nginx.conf").write_text(main_conf(self.prefix, site))

    def _wait_listening(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise NginxFailed(f"nginx did not listen within {START_TIMEOUT:g}s\n{self.error_log}")


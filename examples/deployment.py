"""One command, one small deployment: nginx in front of an example web app and Incoming!!.

    examples/flask/run   [--port 8080] [--dir DIR] [--instances N] [--storage s3://BUCKET/PREFIX]
    examples/express/run [--port 8080] [--dir DIR] [--instances N] [--storage s3://BUCKET/PREFIX]

Each ``run`` script calls this with the checkout's ``.venv`` Python. It makes
fresh keys (an API key for the backend API, a ``whsec_`` key that signs the
callbacks), starts Incoming!! (browsers' listener and backend listener on
loopback, trusting nginx's X-Forwarded-For, callbacks only to the app), nginx
on ``--port`` (one origin for the app and Incoming!!; and, on a loopback port
of its own, the app's way to the backend API of every instance), and the app. ``--instances 2``
starts two Incoming!! instances sharing a Redis server (``redis-server``) and
one storage directory, behind nginx without sticky sessions (any instance
continues any upload). ``--storage s3://BUCKET/PREFIX`` puts the files in
S3-compatible storage instead, for Incoming!! and the app alike: both find the
endpoint and credentials in the usual ``AWS_*`` environment.

It prints ``ready: http://127.0.0.1:PORT/`` once everything answers, and stops
everything on Ctrl-C or SIGTERM (Incoming!! last, so it flushes its files). A
process that dies stops the rest. Logs, keys, stored files: under ``--dir``
(default: ``examples/APP/run-data``).
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
LOCATIONS = EXAMPLES.parent / "etc" / "nginx" / "incoming-locations.conf"
APPS = {
    "flask": [sys.executable, str(EXAMPLES / "flask" / "app.py")],
    "express": ["node", str(EXAMPLES / "express" / "server.mjs")],
}
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Child:
    """One process of the deployment, its output in ``logs/NAME.log``."""

    def __init__(self, name: str, argv: list[str], logs: Path, port: int,
                 env: dict[str, str] | None = None, browser_port: int = 0) -> None:
        self.name, self.argv = name, argv
        self.port = port
        """Answers once the process is up (Incoming!!'s: its backend listener)."""
        self.browser_port = browser_port
        """Incoming!!'s listener for browsers, which nginx proxies to."""
        self.log = logs / f"{name}.log"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not answers(self.port):
            if not self.alive or time.monotonic() > deadline:
                raise SystemExit(f"{self.name} did not start:\n{self.tail()}")
            time.sleep(0.1)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if not self.alive:
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def secrets_in(directory: Path) -> dict[str, Path]:
    """The API key, the callback signing key and the app's backendSecret: made at the first
    run, kept in files only this user reads (a second run resumes with the same keys)."""
    keys = {"api-key": lambda: secrets.token_urlsafe(32),
            "signing-key": lambda: "whsec_" + base64.b64encode(os.urandom(32)).decode(),
            "backend-secret": lambda: secrets.token_urlsafe(24)}
    found: dict[str, Path] = {}
    for name, make in keys.items():
        path = directory / name
        if not path.exists():
            path.write_text(make() + "\n")
            path.chmod(0o600)
        found[name] = path
    return found


def incoming_instances(args: argparse.Namespace, data: Path, logs: Path, keys: dict[str, Path],
                       app_port: int) -> list[Child]:
    twistd = str(Path(sys.executable).with_name("twistd"))
    shared = (["--state", f"redis://127.0.0.1:{args.redis_port}/0"] if args.instances > 1
              else [])
    if args.storage:
        shared += ["--storage", args.storage]
    origins = [f"http://{host}:{args.port}" for host in ("127.0.0.1", "localhost")]
    instances = []
    for number in range(1, args.instances + 1):
        port, backend_port = free_port(), free_port()
        argv = [twistd, "-n", "--pidfile=", "incoming",
                "--listen", f"tcp:{port}:interface=127.0.0.1",
                "--backend-listen", f"tcp:{backend_port}:interface=127.0.0.1",
                "--backend-api-key-file", str(keys["api-key"]),
                "--callback-signing-key-file", str(keys["signing-key"]),
                "--callback-allow", f"http://127.0.0.1:{app_port}/hooks/",
                "--trusted-proxy", "127.0.0.1",
                "--storage-dir", str(data / "incoming"), *shared]
        for origin in origins:
            argv += ["--allowed-origin", origin]
        instances.append(Child(f"incoming{number}", argv, logs, backend_port,
                               browser_port=port))
    return instances


def nginx(args: argparse.Namespace, data: Path, logs: Path, app_port: int, backend_port: int,
          instances: list[Child]) -> Child:
    prefix = data / "nginx"
    prefix.mkdir(exist_ok=True)

    def servers(ports: list[int]) -> str:
        return "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;"
                         for port in ports)

    # As root, nginx's workers would become "nobody", who may not enter --dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = string.Template((EXAMPLES / "nginx.conf").read_text()).safe_substitute(
        user=user, dir=prefix, port=args.port, app_port=app_port, backend_port=backend_port,
        locations=LOCATIONS, incoming_servers=servers([i.browser_port for i in instances]),
        backend_servers=servers([i.port for i in instances]))
    (prefix / "nginx.conf").write_text(conf)
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    return Child("nginx", [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                           "-e", str(prefix / "error.log")], logs, args.port)


def deployment(args: argparse.Namespace) -> list[Child]:
    """Every process, in the order they start (and stop in reverse)."""
    data = Path(args.dir or EXAMPLES / args.app / "run-data").resolve()
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (data / "media").mkdir(exist_ok=True)
    keys = secrets_in(data)
    app_port = free_port()
    children: list[Child] = []
    if args.instances > 1:
        args.redis_port = free_port()
        children.append(Child("redis", ["redis-server", "--port", str(args.redis_port),
                                        "--bind", "127.0.0.1", "--save", "",
                                        "--appendonly", "no"], logs, args.redis_port))
    instances = incoming_instances(args, data, logs, keys, app_port)
    backend_port = free_port()  # nginx's way to every instance's backend listener
    app = Child(args.app, APPS[args.app], logs, app_port, env={
        "PORT": str(app_port),
        "INCOMING_URL": f"http://127.0.0.1:{backend_port}",
        "INCOMING_API_KEY": keys["api-key"].read_text().strip(),
        "INCOMING_SIGNING_KEY": keys["signing-key"].read_text().strip(),
        "BACKEND_SECRET": keys["backend-secret"].read_text().strip(),
        "CALLBACK_URL": f"http://127.0.0.1:{app_port}/hooks/incoming",
        "MEDIA_DIR": str(data / "media"),
    })
    # nginx before the app: the app's backend API calls go through it.
    return [*children, *instances, nginx(args, data, logs, app_port, backend_port, instances),
            app]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", choices=sorted(APPS))
    parser.add_argument("--port", type=int, default=8080, help="where browsers go (nginx)")
    parser.add_argument("--dir", help="keys, logs and files (default examples/APP/run-data)")
    parser.add_argument("--instances", type=int, default=1,
                        help="Incoming!! instances behind nginx (more than one: with Redis)")
    parser.add_argument("--storage", default="",
                        help="s3://BUCKET/PREFIX: files in S3-compatible storage (AWS_* "
                             "environment), not in --dir")
    args = parser.parse_args()
    stopping: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, frame: stopping.append(number))
    children = deployment(args)
    try:
        for child in children:
            child.start()
        print(f"ready: http://127.0.0.1:{args.port}/  (Ctrl-C stops it; logs in "
              f"{children[0].log.parent})", flush=True)
        while not stopping:
            dead = [child for child in children if not child.alive]
            if dead:
                raise SystemExit(f"{dead[0].name} stopped:\n{dead[0].tail()}")
            time.sleep(0.2)
    finally:
        for child in reversed(children):
            child.stop()


if __name__ == "__main__":
    main()

"""The timed runs: one function per case, each with a fresh server process.

Every run follows the same steps, so that the cases compare fairly (docs/performance.rst):
start a fresh server (its peak RSS is then this run's), prepare everything that is not the
transfer (tickets, connections), warm up the memory, read the server's /proc, transfer,
read /proc again, stop the server.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import procstat
from .data import BENCH_DIR, RUN_DIR, VAR_DIR, GiB, sha256_of, warm_up
from .frames import FrameStream, frame_stream
from .handover_sink import HandoverSink
from .processes import ServerProcess, free_loopback_port
from .wsclient import Upload, run_uploads

LOG_DIR = VAR_DIR / "logs"
NODE = shutil.which("node") or "node"


@dataclass
class Settings:
    twistd: str
    server_args: list[str] = field(default_factory=list)
    server_env: dict[str, str] = field(default_factory=dict)
    standin: bool = False  # test the clients against benchlib/standin.py instead of twistd


@dataclass
class Measurement:
    """One timed run of one case."""

    case: str
    size: int  # bytes per upload
    uploads: int
    seconds: float | None = None  # first byte sent → stored (for tus: start → success)
    seconds_finished: float | None = None  # first byte sent → finished (incoming only)
    server_cpu: float | None = None
    server_peak_rss: int | None = None
    client_cpu: float | None = None
    server_minor_faults: int | None = None
    others_cpu: float | None = None  # CPU seconds used by neither server nor client meanwhile
    error: str | None = None
    lateness: float | None = None  # slow case: worst (done - first byte) / schedule
    wall_seconds: float | None = None  # the measured window, where longer than ``seconds``

    @property
    def total_bytes(self) -> int:
        return self.size * self.uploads

    def mbps(self, seconds: float | None = None) -> float | None:
        seconds = self.seconds if seconds is None else seconds
        return self.total_bytes / seconds / 1e6 if seconds else None

    def per_gib(self, value: float | None) -> float | None:
        return value / (self.total_bytes / GiB) if value is not None else None

    def others_cores(self) -> float | None:
        """How many cores other processes kept busy on average during the run."""
        seconds = self.wall_seconds or self.seconds
        if self.others_cpu is None or not seconds:
            return None
        return max(self.others_cpu, 0.0) / seconds

    def as_dict(self) -> dict:
        d = asdict(self)
        d["mbps"] = self.mbps()
        d["mbps_finished"] = self.mbps(self.seconds_finished) if self.seconds_finished else None
        d["server_cpu_per_gib"] = self.per_gib(self.server_cpu)
        d["client_cpu_per_gib"] = self.per_gib(self.client_cpu)
        d["server_minor_faults_per_gib"] = self.per_gib(self.server_minor_faults)
        d["others_cores"] = self.others_cores()
        return d


def transfer_timeout(total_bytes: int) -> float:
    """Generous but bounded: 60 s plus 20 MB/s, far below anything measured here."""
    return 60 + total_bytes / 20e6


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fresh_dir(name: str) -> Path:
    """An empty ``var/run-<pid>/<name>``, removed with the rest when the process ends."""
    if not RUN_DIR.exists():
        atexit.register(shutil.rmtree, RUN_DIR, ignore_errors=True)
    path = RUN_DIR / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _log_path(case: str) -> Path:
    return LOG_DIR / f"{case}-{time.strftime('%H%M%S')}-{time.perf_counter_ns() % 10**6}.log"


# -- raw ceiling -------------------------------------------------------------------------


RAW_CASES = ("raw", "raw-sync", "raw-hash")


def _raw_receiver_args(case: str, out: Path) -> list[str]:
    """Into a file; the same with fdatasync before answering (the ceiling for a server that,
    like Incoming!!, makes the file durable before calling it stored); or receiving and
    hashing only, storing nothing (the ceiling for any server that hashes every byte, as
    Incoming!! must)."""
    return {"raw": ["--out", str(out)], "raw-sync": ["--out", str(out), "--fsync"],
            "raw-hash": ["--sha256"]}[case]


def run_raw(data_path: Path, case: str = "raw") -> Measurement:
    """sendfile → loopback TCP → recv_into 1 MiB → file (or SHA-256), the receiver in its
    own process."""
    size = data_path.stat().st_size
    m = Measurement(case, size, 1)
    out = fresh_dir("store-raw") / "received.bin"
    argv = [sys.executable, str(BENCH_DIR / "benchlib" / "raw_receiver.py"),
            *_raw_receiver_args(case, out)]
    with ServerProcess(argv, _log_path(case), stdin=subprocess.PIPE) as receiver:
        port = int(receiver.read_line_starting("LISTENING", 10).split()[1])
        with socket.create_connection(("127.0.0.1", port)) as sock, open(data_path, "rb") as f:
            sock.settimeout(transfer_timeout(size))  # bounds sendfile and the reply alike
            warm_up()
            busy0 = procstat.machine_busy_seconds()
            before, cpu0 = procstat.sample(receiver.pid), own_cpu_seconds()
            started = time.perf_counter()
            sock.sendfile(f)
            sock.shutdown(socket.SHUT_WR)
            reply = sock.recv(1)  # the receiver has written (or hashed) everything
            m.seconds = time.perf_counter() - started
            after, cpu1 = procstat.sample(receiver.pid), own_cpu_seconds()
            busy1 = procstat.machine_busy_seconds()
        _, received, digest = receiver.read_line_starting("RECEIVED", 10).split()
    _fill_cpu(m, before, after, cpu1 - cpu0, busy1 - busy0)
    stored = size if case == "raw-hash" else (out.stat().st_size if out.exists() else 0)
    if reply != b"k" or int(received) != size or stored != size:
        m.error = f"raw receiver got {received} of {size} bytes, stored {stored}"
    elif digest != "-" and digest != sha256_of(data_path):
        m.error = f"raw receiver's SHA-256 {digest} is not the data's"
    out.unlink(missing_ok=True)
    return m


def _fill_cpu(
    m: Measurement,
    before: procstat.ProcessSample,
    after: procstat.ProcessSample,
    client_cpu: float,
    machine_busy: float,
) -> None:
    m.server_cpu = after.cpu_seconds - before.cpu_seconds
    m.others_cpu = machine_busy - m.server_cpu - client_cpu
    m.server_peak_rss = after.peak_rss_bytes
    m.server_minor_faults = after.minor_faults - before.minor_faults
    m.client_cpu = client_cpu


# -- Incoming!! ----------------------------------------------------------------------------


class IncomingServer:
    """The real server (``twistd -n incoming``), or the stand-in when testing the harness."""

    def __init__(self, settings: Settings, discard: bool = False):
        self.store = fresh_dir("store-incoming")
        if settings.standin or discard:
            argv = [
                sys.executable,
                str(BENCH_DIR / "benchlib" / "standin.py"),
                "--storage-dir",
                str(self.store),
            ] + (["--discard"] if discard else [])
            self.process = ServerProcess(argv, _log_path("standin"))
            self.port = int(self.process.read_line_starting("LISTENING", 10).split()[1])
        else:
            self.port = free_loopback_port()
            argv = [
                settings.twistd,
                "-n",
                "--pidfile=",
                "incoming",
                "--listen",
                f"tcp:{self.port}:interface=127.0.0.1",
                "--storage-dir",
                str(self.store),
                *settings.server_args,
            ]
            env = {**os.environ, **settings.server_env}
            self.process = ServerProcess(argv, _log_path("incoming"), env=env, announces_port=False)
            self.process.wait_for_port(self.port, timeout=60)

    def new_ticket(self, signal_finish_url: str) -> str:
        form = urllib.parse.urlencode(
            {"signalFinishURL": signal_finish_url, "removeFileWhenFinished": "true"}
        ).encode()
        url = f"http://127.0.0.1:{self.port}/incoming/0.1/backend/new_upload"
        with urllib.request.urlopen(url, form, timeout=30) as answer:
            return answer.read().decode().strip()

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.store, ignore_errors=True)


class FrameCache:
    """Frame streams by chunk size, built on first use (normally before any timed run)."""

    def __init__(self, data_path: Path):
        self.data_path = data_path
        self._streams: dict[int, FrameStream] = {}

    def __call__(self, chunk_size: int) -> FrameStream:
        if chunk_size not in self._streams:
            self._streams[chunk_size] = frame_stream(self.data_path, chunk_size)
        return self._streams[chunk_size]


def run_incoming(
    settings: Settings,
    sink: HandoverSink,
    frames: FrameCache,
    uploads: int = 1,
    discard: bool = False,
) -> Measurement:
    """``uploads`` uploads of the data file at once; timed first byte → last ``stored``.

    With ``discard`` the stand-in acknowledges without storing: that measures the client.
    """
    data_path = frames.data_path
    size = data_path.stat().st_size
    m = Measurement("client-alone" if discard else "incoming", size, uploads)
    server = IncomingServer(settings, discard=discard)
    try:
        tickets = [server.new_ticket(sink.url) for _ in range(uploads)]
        clients = [Upload(server.port, t, data_path.name, frames) for t in tickets]
        warm_up()
        busy0 = procstat.machine_busy_seconds()
        before, cpu0 = procstat.sample(server.process.pid), own_cpu_seconds()
        results = run_uploads(clients, size, transfer_timeout(size * uploads))
        after, cpu1 = procstat.sample(server.process.pid), own_cpu_seconds()
        busy1 = procstat.machine_busy_seconds()
    finally:
        server.stop()
    _fill_cpu(m, before, after, cpu1 - cpu0, busy1 - busy0)
    errors = [r.error for r in results if r.error]
    if not errors and not discard:
        digest = sha256_of(data_path)
        errors = [e for e in (sink.check(t, digest, size) for t in tickets) if e]
    if errors:
        m.error = f"{len(errors)} of {uploads} failed; first: {errors[0]}"
        return m
    first_byte = min(r.first_byte_at for r in results)
    m.seconds = max(r.stored_at for r in results) - first_byte
    m.seconds_finished = max(r.finished_at for r in results) - first_byte
    return m


# -- tus -------------------------------------------------------------------------------


def run_tus(data_path: Path, uploads: int = 1) -> Measurement:
    """@tus/server + @tus/file-store, driven by tus-js-client in Node (default chunk size)."""
    size = data_path.stat().st_size
    m = Measurement("tus", size, uploads)
    store = fresh_dir("store-tus")
    argv = [NODE, str(BENCH_DIR / "js" / "tus_server.mjs"), "--dir", str(store)]
    with ServerProcess(argv, _log_path("tus")) as server:
        port = int(server.read_line_starting("LISTENING", 30).split()[1])
        warm_up()
        busy0 = procstat.machine_busy_seconds()
        before = procstat.sample(server.pid)
        done = _tus_client(f"http://127.0.0.1:{port}/files", data_path, uploads)
        after = procstat.sample(server.pid)
        busy1 = procstat.machine_busy_seconds()
    stored_sizes = [p.stat().st_size for p in store.iterdir() if p.suffix != ".json"]
    shutil.rmtree(store, ignore_errors=True)
    if done.returncode != 0:
        m.error = f"tus client failed: {done.stderr.strip()[-500:]}"
        return m
    report = json.loads(done.stdout.strip().splitlines()[-1])
    _fill_cpu(m, before, after, report["clientCpuSeconds"], busy1 - busy0)
    m.seconds = report["seconds"]
    if stored_sizes != [size] * uploads:
        m.error = f"tus stored {len(stored_sizes)} files, not {uploads} of {size} bytes"
    return m


def _tus_client(endpoint: str, data_path: Path, uploads: int,
                tickets: list[str] | None = None) -> subprocess.CompletedProcess:
    """tus-js-client in Node (js/tus_upload.mjs), ``uploads`` at once; its last line is JSON."""
    client = [NODE, str(BENCH_DIR / "js" / "tus_upload.mjs"), "--endpoint", endpoint,
              "--file", str(data_path), "--count", str(uploads)]
    if tickets:
        client += ["--tickets", ",".join(tickets)]
    size = data_path.stat().st_size
    return subprocess.run(client, capture_output=True, text=True, cwd=BENCH_DIR,
                          timeout=transfer_timeout(size * uploads))


def _handed_over(sink: HandoverSink, tickets: list[str], digest: str, size: int,
                 deadline: float) -> list[str]:
    """Wait until every ticket's handover callback came with the right digest and size (or
    the deadline passed); the problems left."""
    while True:
        errors = [e for e in (sink.check(t, digest, size) for t in tickets) if e]
        if not errors or time.monotonic() > deadline:
            return errors
        time.sleep(0.05)


def run_tus_face(settings: Settings, sink: HandoverSink, data_path: Path,
                 uploads: int = 1) -> Measurement:
    """The same tus-js-client → Incoming!!'s tus face (SHA-256 and fdatasync as always);
    timed by the client from ``start()`` to ``onSuccess``, or to the last handover callback
    if that is later (the last PATCH is answered once written, before the file is synced
    and stored: docs/tus.rst)."""
    size = data_path.stat().st_size
    m = Measurement("tus-face", size, uploads)
    server = IncomingServer(settings)
    try:
        tickets = [server.new_ticket(sink.url) for _ in range(uploads)]
        warm_up()
        busy0 = procstat.machine_busy_seconds()
        before = procstat.sample(server.process.pid)
        started = time.perf_counter()
        done = _tus_client(f"http://127.0.0.1:{server.port}/incoming/0.1/tus/", data_path,
                           uploads, tickets)
        errors = _handed_over(sink, tickets, sha256_of(data_path), size,
                              deadline=time.monotonic() + 60) if done.returncode == 0 else []
        after = procstat.sample(server.process.pid)
        busy1 = procstat.machine_busy_seconds()
    finally:
        server.stop()
    if done.returncode != 0:
        m.error = f"tus client failed: {done.stderr.strip()[-500:]}"
        return m
    if errors:
        m.error = f"{len(errors)} of {uploads} failed; first: {errors[0]}"
        return m
    report = json.loads(done.stdout.strip().splitlines()[-1])
    _fill_cpu(m, before, after, report["clientCpuSeconds"], busy1 - busy0)
    stored = max(sink.arrived[t] for t in tickets) - started
    m.seconds = max(report["seconds"], stored - 0.05)  # node's own start lags ours a little
    m.seconds_finished = stored
    return m


# -- many slow uploads -----------------------------------------------------------------


@dataclass
class SlowPlan:
    uploads: int = 1000
    message: int = 16 << 10  # bytes per piece
    interval: float = 0.25  # seconds between pieces: 64 KiB/s
    seconds: float = 20.0  # the schedule

    @property
    def size(self) -> int:
        return int(self.seconds / self.interval) * self.message


def run_slow_case(settings: Settings, sink: HandoverSink, face: str, plan: SlowPlan,
                  data_path: Path) -> Measurement:
    """``plan.uploads`` uploads at once over ``face`` (ws or tus), each sending ``data_path``
    on the schedule; timed from the first byte to the last upload done. ``seconds`` is that
    span; ``lateness`` the worst (done - first byte) / schedule over the uploads."""
    from .frames import frame_stream
    from .slow import SlowTus, SlowWebSocket, create_tus_upload, run_slow, tus_pieces, ws_pieces

    size = data_path.stat().st_size
    m = Measurement(f"slow-{face}", size, plan.uploads)
    server = IncomingServer(settings)
    try:
        tickets = [server.new_ticket(sink.url) for _ in range(plan.uploads)]
        if face == "ws":
            pieces = ws_pieces(frame_stream(data_path, plan.message))
            clients = [SlowWebSocket(server.port, t, pieces, size) for t in tickets]
        else:
            pieces = tus_pieces(data_path.read_bytes(), plan.message)
            for ticket in tickets:
                create_tus_upload(server.port, ticket, size)
            clients = [SlowTus(server.port, t, pieces, size) for t in tickets]
        warm_up()
        busy0 = procstat.machine_busy_seconds()
        before, cpu0 = procstat.sample(server.process.pid), own_cpu_seconds()
        window_start = time.perf_counter()
        run_slow(clients, plan.interval, timeout=plan.seconds * 10 + 60)
        digest = sha256_of(data_path)
        errors = [c.result.error for c in clients if c.result.error]
        if not errors:
            errors = _handed_over(sink, tickets, digest, size, deadline=time.monotonic() + 60)
        after, cpu1 = procstat.sample(server.process.pid), own_cpu_seconds()
        busy1 = procstat.machine_busy_seconds()
        m.wall_seconds = time.perf_counter() - window_start
    finally:
        server.stop()
    _fill_cpu(m, before, after, cpu1 - cpu0, busy1 - busy0)
    if errors:
        m.error = f"{len(errors)} of {plan.uploads} failed; first: {errors[0]}"
        return m
    results = [c.result for c in clients]
    first = min(r.first_byte_at for r in results)
    m.seconds = max(r.done_at for r in results) - first
    m.lateness = max((r.done_at - r.first_byte_at) / plan.seconds for r in results)
    return m

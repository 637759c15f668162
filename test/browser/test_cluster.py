"""Three real ``twistd incoming`` instances sharing a real Redis and their storage (one
directory, or a bucket of moto's S3 server), behind etc/nginx/incoming-cluster.conf (no sticky
sessions), and Chromium uploading through it with incoming.js over both data paths while the
instances fail under it.

Between nginx and each instance sits a :class:`CuttableProxy` that holds every connection to
``RATE``, so that an upload lasts long enough for each instance to take a part of it. The test
moves nginx from instance to instance (a reload with another upstream) and then breaks the
connections of the one it left: first cut, then stopped with SIGTERM, then killed with
SIGKILL, each only once both uploads have made ``STEP`` bytes of progress on it.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from test.browser.conftest import Browser
from test.integration.conftest import make_server, redis_server  # noqa: F401 (fixtures)
from test.support.backend import BackendAPI, FakeBackend
from test.support.nginx import CLUSTER_CONF, NginxFront
from test.support.proxy import CuttableProxy
from test.support.redis_server import RedisServer
from test.support.s3server import SMALL_PART, MotoServer, moto_server
from test.support.server import IncomingServer, wait_until

MiB = 1 << 20
LEASE = "2s"
RATE = 2 * MiB
"""Bytes per second through each connection from nginx to an instance."""
STEP = MiB
"""Progress each upload makes on an instance before the test breaks its connection there."""
SIZE = 20 * MiB
"""Room for one upload to run ahead while the other reconnects (or, over S3, is refused once
with 409): each must still be unfinished when its last instance is killed."""
PHASE_TIMEOUT = 30.0

pytestmark = pytest.mark.time_limit(120)


class SharedDirectory:
    """One storage directory for every instance (a shared file system's case)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def server_options(self) -> dict[str, Any]:
        return {"storage_dir": self.directory}

    def stored_sha256(self, ticket: str) -> str:
        return hashlib.sha256((self.directory / "complete" / ticket).read_bytes()).hexdigest()

    def leftovers(self, ticket: str) -> list[str]:
        return [p.name for p in (self.directory / "partial").iterdir() if p.name == ticket]


class Bucket:
    """One bucket for every instance (each spools parts in a directory of its own)."""

    PREFIX = "cluster/"

    def __init__(self, s3: MotoServer) -> None:
        self.s3 = s3

    def server_options(self) -> dict[str, Any]:
        return {"storage": f"s3://{self.s3.bucket}/{self.PREFIX}",
                "s3_part_size": f"{SMALL_PART // 1024}KiB"}

    def stored_sha256(self, ticket: str) -> str:
        return hashlib.sha256(self.s3.read(self.PREFIX + ticket)).hexdigest()

    def leftovers(self, ticket: str) -> list[str]:
        """Unfinished multipart uploads and manifests of the ticket."""
        return ([key for key, _ in self.s3.multipart_uploads() if ticket in key]
                + [key for key in self.s3.object_keys() if ticket in key and key.endswith(".json")])


Storage = SharedDirectory | Bucket


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(params=["shared directory", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Storage:
    if request.param == "shared directory":
        return SharedDirectory(tmp_path / "shared-storage")
    s3: MotoServer = request.getfixturevalue("s3")
    for name, value in s3.environment.items():
        monkeypatch.setenv(name, value)  # what every twistd started by the test inherits
    return Bucket(s3)


@dataclass
class Instance:
    server: IncomingServer
    proxy: CuttableProxy
    """nginx's way to it, at RATE."""


@dataclass
class Cluster:
    instances: list[Instance]
    front: NginxFront
    storage: Storage

    @property
    def api(self) -> BackendAPI:
        """The backend API through nginx's private listener (any live instance answers)."""
        return BackendAPI(f"{self.front.backend_url}/incoming/0.1/backend")

    def route_to(self, target: Instance) -> None:
        """nginx sends every new browser connection to ``target`` from now on."""
        live = [i.server.backend_port for i in self.instances if i.server.running]
        self.front.set_upstreams({"incoming": [target.proxy.port],
                                  "incoming_backend": [p for p in live if p is not None]})
        self.front.reload()

    @staticmethod
    def received(ticket: str, instance: Instance) -> int:
        """The bytes written, as the instance serving the upload knows them (another may
        know only what was saved when a client last left)."""
        api = BackendAPI(instance.server.api_url)
        return int(api.upload_status(ticket)["bytesReceived"])

    def wait_until_carrying(self, instance: Instance, tickets: list[str], log_from: int,
                            driver: subprocess.Popen[str]) -> None:
        """Until ``instance`` welcomed each upload (after ``log_from`` in its log) and
        ``STEP`` bytes were written past where it first did: it is mid-upload on every
        ticket."""
        def carrying() -> bool:
            if driver.poll() is not None:  # the page gave up: show why
                raise AssertionError(f"the browser ended early: {Browser.collect(driver)}")
            log = instance.server.log[log_from:]
            for ticket in tickets:
                welcomed = re.findall(rf"ticket {ticket[:8]} (?:connected|resumed) at offset "
                                      r"(\d+)", log)
                if not welcomed or self.received(ticket, instance) < int(welcomed[0]) + STEP:
                    return False
            return True
        wait_until(carrying, PHASE_TIMEOUT, interval=0.1,
                   message=lambda: f"progress on {instance.server.name}: "
                                   f"{[self.received(t, instance) for t in tickets]} bytes\n"
                                   f"{self.front.access_log[-2000:]}")


@pytest.fixture
def cluster(make_server: Callable[..., IncomingServer],  # noqa: F811 (a fixture)
            redis_server: RedisServer, storage: Storage,  # noqa: F811
            tmp_path: Path) -> Iterator[Cluster]:
    options = {"state": redis_server.url, "lease_time": LEASE, "handover_max_delay": "200ms",
               "handover_attempt_timeout": "5s", "trusted_proxy": "127.0.0.1",
               **storage.server_options()}
    servers = [make_server(separate_backend=True, **options) for _ in range(3)]
    proxies = [CuttableProxy(s.port, rate=RATE) for s in servers]  # type: ignore[arg-type]
    instances = [Instance(s, p) for s, p in zip(servers, proxies, strict=True)]
    front = NginxFront(tmp_path, CLUSTER_CONF, {
        "incoming": [instances[0].proxy.port],
        "incoming_backend": [s.backend_port for s in servers]})  # type: ignore[misc]
    with front:
        yield Cluster(instances, front, storage)
    for proxy in proxies:
        proxy.close()


def test_uploads_survive_cuts_a_stop_and_a_kill_across_instances(
        cluster: Cluster, page_url: str, backend: FakeBackend) -> None:
    """Two uploads from Chromium, one over HTTP and one over the WebSocket, go to a, then b,
    then c, then a again: a's connections are cut, b is stopped with SIGTERM and c killed
    with SIGKILL, each mid-upload. Both files arrive byte-identical, each ticket ends once
    (one callback, one "finished" in all the logs, upload_status finished), and nginx's
    access log shows the uploads reaching every instance."""
    a, b, c = cluster.instances
    tickets = [cluster.api.new_upload(backend.callback_url(), remove_file_when_finished=False)
               for _ in range(2)]
    through_nginx: Any = types.SimpleNamespace(base_url=cluster.front.url)
    driver = Browser("chromium", page_url, through_nginx).start([
        {"ticket": tickets[0], "size": SIZE + 5, "name": "h.bin", "transport": "http"},
        {"ticket": tickets[1], "size": SIZE + 9, "name": "w.bin", "transport": "websocket"}],
        timeout=100)

    cluster.wait_until_carrying(a, tickets, 0, driver)
    mark = len(b.server.log)
    cluster.route_to(b)
    assert a.proxy.cut() >= 1  # the WebSocket (a PATCH too, unless between two)
    cluster.wait_until_carrying(b, tickets, mark, driver)
    mark = len(c.server.log)
    cluster.route_to(c)
    b.server.stop()
    cluster.wait_until_carrying(c, tickets, mark, driver)
    mark = len(a.server.log)
    cluster.route_to(a)
    assert all(cluster.received(t, c) < SIZE for t in tickets), "finished before the kill"
    c.server.kill()

    results = Browser.collect(driver, timeout=100)
    for ticket, result in zip(tickets, results, strict=True):
        assert result["outcome"] == "finished", result
        assert result["librarySha256"] == result["sha256"] == cluster.storage.stored_sha256(ticket)
        [callback] = backend.wait_for_callbacks(ticket)
        assert callback.form["sha256"] == result["sha256"] and not callback.cancelled
        assert cluster.api.upload_status(ticket)["state"] == "finished"
        assert cluster.storage.leftovers(ticket) == []
        logs = [i.server.log for i in cluster.instances]
        assert sum(log.count(f"ticket {ticket[:8]} finished:") for log in logs) == 1
        assert re.search(rf"ticket {ticket[:8]} resumed at offset [1-9]", a.server.log[mark:])
    assert [r["transport"] for r in results] == ["http", "websocket"]
    every = {i.proxy.port for i in cluster.instances}
    assert cluster.front.upstream_ports(f"/incoming/0.1/tus/{tickets[0]}") == every
    assert cluster.front.upstream_ports("/incoming/0.1/frontend/upload_ws") == every
    for ticket in tickets:
        with pytest.raises(AssertionError, match="timed out"):
            backend.wait_for_callbacks(ticket, count=2, timeout=1.0)

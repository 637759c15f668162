"""The nginx files in etc/nginx/, with Debian's nginx: each loads (``nginx -t``), and uploads go
through them into a real twistd, over the WebSocket and over tus, with a dead instance in the
upstream list that nginx passes over."""

from __future__ import annotations

import base64
import http.client
import io
import os
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tusclient import client as tus_client

from incoming.client import Client
from test.integration.conftest import FAST_OPTIONS
from test.integration.wsupload import Connection, make_data, sha256
from test.support.backend import FakeBackend
from test.support.nginx import CLUSTER_CONF, ETC_NGINX, SINGLE_CONF, NginxFront, check, \
    free_port, upstreams_for
from test.support.server import IncomingServer, wait_until

MiB = 1 << 20
API_KEY = "nginx-test-key-0123456789"
CHECKED = [SINGLE_CONF, CLUSTER_CONF]


DEAD = free_port()
"""An instance that is down: nobody listens there."""


@pytest.fixture(scope="module")
def instance(make_module_server: Any) -> IncomingServer:
    return make_module_server(separate_backend=True, trusted_proxy="127.0.0.1",
                              backend_api_key=API_KEY, **FAST_OPTIONS)


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory,
          instance: IncomingServer) -> Iterator[NginxFront]:
    """incoming-cluster.conf in front of the dead instance, then the live one."""
    with NginxFront(tmp_path_factory.mktemp("nginx"), CLUSTER_CONF,
                    {"incoming": [DEAD, instance.port],
                     "incoming_backend": [DEAD, instance.backend_port]}) as running:
        yield running


def websocket_upload(instance: IncomingServer, port: int, ticket: str, data: bytes,
                     tls: bool = False) -> None:
    """One whole upload over the WebSocket at ``port`` (nginx), to ``finished``."""
    with Connection(instance, port=port, timeout=20, tls=tls) as conn:
        assert conn.hello(ticket, len(data))["type"] == "welcome"
        conn.send_data(data)
        conn.until_closed()
    assert conn.states[-1] == "finished", conn.messages


@pytest.mark.parametrize("conf", CHECKED, ids=lambda conf: conf.name)
def test_each_shipped_file_passes_nginx_t(tmp_path: Path, conf: Path) -> None:
    """Debian's nginx accepts the file (with a test certificate and free loopback ports)."""
    result = check(conf, tmp_path / "check")
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_every_file_in_etc_nginx_is_checked() -> None:
    """No shipped nginx file escapes nginx -t: each is checked or included by a checked one."""
    included = {Path(name).name for conf in CHECKED
                for name in re.findall(r"include (\S+);", conf.read_text())}
    for conf in ETC_NGINX.iterdir():
        assert conf in CHECKED or conf.name in included, conf


def test_websocket_and_tus_uploads_through_nginx(front: NginxFront, instance: IncomingServer,
                                                 backend: FakeBackend) -> None:
    """Tickets from the private listener (API key passed through), one file over the WebSocket
    and one over tus (PATCH bodies streamed): both stored byte-identical, the backend hears
    each, and nginx passed over the dead instance instead of failing a request."""
    api = Client(front.backend_url, api_key=API_KEY)
    over_ws, over_tus = make_data(5 * MiB + 7, seed=71), make_data(3 * MiB + 11, seed=72)
    ws_ticket = api.new_upload(backend.callback_url())
    tus_ticket = api.new_upload(backend.callback_url())

    websocket_upload(instance, front.port, ws_ticket, over_ws)

    tus = tus_client.TusClient(front.url + "/incoming/0.1/tus/")
    tus.uploader(file_stream=io.BytesIO(over_tus), chunk_size=MiB,
                 metadata={"ticket": tus_ticket, "filename": "tus.bin"}).upload()

    for ticket, data in ((ws_ticket, over_ws), (tus_ticket, over_tus)):
        [callback] = backend.wait_for_callbacks(ticket)
        assert callback.file_sha256 == callback.form["sha256"] == sha256(data)
        assert callback.form["size"] == str(len(data))
    assert api.upload_status(tus_ticket)["state"] == "finished"
    assert f"127.0.0.1:{DEAD}" in front.error_log


def test_the_single_instance_file_carries_uploads_over_tls(
        tmp_path: Path, instance: IncomingServer, backend: FakeBackend) -> None:
    """incoming.conf as shipped (TLS, with a test certificate), in front of the one instance:
    a WebSocket upload over wss arrives whole."""
    api = Client(instance.backend_base_url, api_key=API_KEY)
    data = make_data(2 * MiB + 3, seed=73)
    ticket = api.new_upload(backend.callback_url())
    with NginxFront(tmp_path, SINGLE_CONF, {"incoming": [instance.port]}, tls=True) as single:
        websocket_upload(instance, single.port, ticket, data, tls=True)
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.file_sha256 == sha256(data)


def handshake(port: int, forwarded_for: str) -> tuple[socket.socket, str]:
    """A WebSocket handshake through nginx by a client behind another proxy (its own
    X-Forwarded-For); the open socket and the answer's status line."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /incoming/0.1/frontend/upload_ws HTTP/1.1\r\nHost: uploads\r\n"
                 f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 f"Sec-WebSocket-Version: 13\r\nX-Forwarded-For: {forwarded_for}\r\n\r\n"
                 .encode())
    return sock, sock.recv(4096).split(b"\r\n", 1)[0].decode()


def test_the_per_address_limit_counts_the_address_nginx_forwards(
        tmp_path: Path, make_server: Any) -> None:
    """With trusted_proxy naming nginx, X-Forwarded-For (as nginx extends it) names the client:
    two clients get one connection each, a second one from the first gets 429."""
    instance = make_server(trusted_proxy="127.0.0.1", max_connections_per_address=1)
    with NginxFront(tmp_path, SINGLE_CONF, {"incoming": [instance.port]}) as front:
        first, first_status = handshake(front.port, "203.0.113.1")
        second, second_status = handshake(front.port, "203.0.113.2")
        third, third_status = handshake(front.port, "203.0.113.1")
        for sock in (first, second, third):
            sock.close()
    assert " 101 " in first_status and " 101 " in second_status
    assert " 429 " in third_status


def library_status(front: NginxFront) -> int:
    try:
        with urllib.request.urlopen(front.url + "/incoming/0.1/frontend/incoming.js",
                                    timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_a_reload_moves_nginx_to_other_instances(tmp_path: Path,
                                                 instance: IncomingServer) -> None:
    """In front of a dead instance alone nginx answers 502; given the live one and reloaded
    (as a test does after starting instances anew), it serves from there."""
    with NginxFront(tmp_path, CLUSTER_CONF, {"incoming": [DEAD], "incoming_backend": [DEAD]}
                    ) as moving:
        assert library_status(moving) == 502
        moving.set_upstreams(upstreams_for([instance]))
        moving.reload()
        wait_until(lambda: library_status(moving) == 200, 15)


class CuttingInstance:
    """An upstream that accepts a request, reads the start of it, and drops the connection: an
    instance dying in the middle of a PATCH."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self.requests.append(conn.recv(65536))

    def close(self) -> None:
        self.listener.close()


def patch(port: int, ticket: str, offset: int, body: bytes) -> int | None:
    """One tus PATCH through nginx; its status, or None if the connection broke."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("PATCH", f"/incoming/0.1/tus/{ticket}", body=body, headers={
            "Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream"})
        return conn.getresponse().status
    except (ConnectionError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def test_a_patch_cut_by_a_dying_instance_is_not_replayed_on_another(
        tmp_path: Path, instance: IncomingServer, backend: FakeBackend) -> None:
    """nginx does not pass a PATCH whose body it began to send to the next instance: the client
    hears the failure, the live instance stored nothing of it, and the client's next PATCH from
    the true offset completes the file."""
    api = Client(instance.backend_base_url, api_key=API_KEY)
    data = make_data(2 * MiB, seed=74)
    ticket = api.new_upload(backend.callback_url())
    created = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=10)
    metadata = "ticket " + base64.b64encode(ticket.encode()).decode()
    created.request("POST", "/incoming/0.1/tus/", headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)), "Upload-Metadata": metadata})
    assert created.getresponse().status == 201
    created.close()
    dying = CuttingInstance()
    try:
        with NginxFront(tmp_path, CLUSTER_CONF, {"incoming": [dying.port, instance.port]}
                        ) as front:
            # The first PATCH goes to the first instance (least_conn, ties in order).
            assert patch(front.port, ticket, 0, data) in (None, 502)
            assert len(dying.requests) == 1 and dying.requests[0].startswith(b"PATCH ")
            assert api.upload_status(ticket)["bytesReceived"] == 0
            assert patch(front.port, ticket, 0, data) == 204
    finally:
        dying.close()
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.file_sha256 == sha256(data)
    assert len(dying.requests) == 1

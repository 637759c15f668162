"""Uploads through a TLS listener (``ssl:`` endpoint): the server cannot read such
connections straight from the socket, so they take the path where Autobahn parses the
frames and the protocol copies payloads into storage's buffers."""

from __future__ import annotations

import socket

from test.integration.wsupload import Connection, make_data, sha256
from test.support.backend import BackendAPI, FakeBackend
from test.support.tls import self_signed

MiB = 1 << 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_upload_over_tls_is_stored_and_handed_over_intact(make_server, tmp_path) -> None:
    key, cert = self_signed(tmp_path)
    port = free_port()
    server = make_server(extra_args=[
        "--listen", f"ssl:{port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"])
    api = BackendAPI(server.api_url)
    data = make_data(3 * MiB + 4321, seed=7)
    with FakeBackend() as backend:
        ticket = api.new_upload(backend.callback_url("/done"))
        conn = Connection(server, port=port, tls=True)
        assert conn.hello(ticket, len(data))["offset"] == 0
        conn.send_data(data, chunk=MiB)
        assert conn.until_closed() == 1000
        conn.close()
        assert conn.states == ["stored", "handing_over", "finished"]
        [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data) == callback.file_sha256
    assert callback.form["size"] == str(len(data))

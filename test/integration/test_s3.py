"""Object storage for real: ``twistd incoming --storage s3://…`` against moto's standalone S3
server, configured only through the standard ``AWS_*`` environment. Files arrive over the
WebSocket and the tus face, byte-identical with the right SHA-256 in the callback; a cut
and a SIGKILL resume the same multipart upload; a cancel aborts it; removeFileWhenFinished
deletes the object."""

from __future__ import annotations

import base64
import http.client
import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tusclient import client as tus_client

from test.integration.conftest import FAST_OPTIONS
from test.integration.wsupload import Connection, make_data, sha256
from test.support.backend import BackendAPI, FakeBackend
from test.support.redis_server import RedisServer
from test.support.resuming import ResumingUpload
from test.support.s3server import SMALL_PART, MotoServer, moto_server
from test.support.server import IncomingServer, wait_until

PREFIX = "incoming/files/"
TUS = "/incoming/0.1/tus/"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with moto_server(tmp_path_factory.mktemp("moto")) as server, \
            pytest.MonkeyPatch.context() as env:
        for name, value in server.environment.items():
            env.setenv(name, value)  # inherited by every twistd the tests start
        yield server


def s3_options(s3: MotoServer) -> dict[str, str]:
    return {**FAST_OPTIONS, "storage": f"s3://{s3.bucket}/{PREFIX}",
            "s3_part_size": f"{SMALL_PART // 1024}KiB"}


@pytest.fixture(scope="module")
def server(make_module_server: Callable[..., IncomingServer], s3: MotoServer) -> IncomingServer:
    return make_module_server(**s3_options(s3))


def assert_stored(s3: MotoServer, callback_form: dict[str, str], ticket: str,
                  data: bytes) -> None:
    key = PREFIX + ticket
    assert callback_form["filename"] == f"s3://{s3.bucket}/{key}"
    assert (callback_form["bucket"], callback_form["key"]) == (s3.bucket, key)
    assert callback_form["sha256"] == sha256(data)
    assert s3.read(key) == data
    assert s3.multipart_uploads() == []
    assert key + ".upload.json" not in s3.object_keys()


def the_upload(s3: MotoServer, ticket: str) -> tuple[str, str] | None:
    """The ticket's multipart upload, when there is exactly one."""
    uploads = [u for u in s3.multipart_uploads() if u[0] == PREFIX + ticket]
    return uploads[0] if len(uploads) == 1 else None


def parts_sent(s3: MotoServer, ticket: str) -> int:
    upload = the_upload(s3, ticket)
    return s3.parts(*upload) if upload else 0


def test_a_websocket_upload_lands_in_the_bucket(server: IncomingServer, api: BackendAPI,
                                                backend: FakeBackend, s3: MotoServer) -> None:
    """Over the WebSocket face, in several parts: the object is the file, the callback
    names it (filename, bucket, key) with its SHA-256, and no multipart upload is left."""
    data = make_data(5 * SMALL_PART + 1234, seed=81)
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
    with ResumingUpload(server, ticket, data) as upload:
        assert upload.wait_done(30) == "finished", upload.summary()
    [callback] = backend.callbacks_for(ticket)
    assert_stored(s3, callback.form, ticket, data)
    assert f"storage: objects in s3://{s3.bucket}/{PREFIX} at {s3.endpoint}" in server.log


def test_a_tus_upload_lands_in_the_bucket(server: IncomingServer, api: BackendAPI,
                                          backend: FakeBackend, s3: MotoServer) -> None:
    """Over the tus face (tuspy, in chunks): the same object, the same callback."""
    data = make_data(3 * SMALL_PART + 77, seed=82)
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
    client = tus_client.TusClient(server.base_url + TUS)
    client.uploader(file_stream=io.BytesIO(data), chunk_size=200 * 1024,
                    metadata={"ticket": ticket, "filename": "tus.bin"}).upload()
    [callback] = backend.wait_for_callbacks(ticket)
    assert_stored(s3, callback.form, ticket, data)


def test_a_cut_connection_resumes_the_same_multipart_upload(
        server: IncomingServer, api: BackendAPI, backend: FakeBackend, s3: MotoServer) -> None:
    """A client cut after some parts comes back at its last acknowledged byte and the same
    multipart upload goes on to completion."""
    data = make_data(6 * SMALL_PART + 99, seed=83)
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
    first = Connection(server)
    first.hello(ticket, len(data))
    first.send_data(data, upto=3 * SMALL_PART + 5000)
    first.wait_for_ack(3 * SMALL_PART + 5000)
    first.drop()
    upload = wait_until(lambda: the_upload(s3, ticket), 10)
    second = Connection(server)
    assert second.hello(ticket, len(data))["offset"] == 3 * SMALL_PART + 5000
    assert the_upload(s3, ticket) == upload and parts_sent(s3, ticket) >= 1
    second.send_data(data)
    [callback] = backend.wait_for_callbacks(ticket)
    assert_stored(s3, callback.form, ticket, data)


@pytest.mark.parametrize("spool_lost", [False, True], ids=["same-instance", "spool-lost"])
def test_a_killed_server_resumes_the_same_multipart_upload(
        make_server: Callable[..., IncomingServer], backend: FakeBackend, s3: MotoServer,
        spool_lost: bool) -> None:
    """SIGKILL mid-upload: the restarted server finds the manifest in the bucket and
    continues the same multipart upload, with the right SHA-256 at the end. With its spool,
    the client resumes at its last acknowledged byte; without it (as when another instance
    takes the upload over), at the last completed part."""
    server = make_server(**s3_options(s3))
    api = BackendAPI(server.api_url)
    data = make_data(8 * SMALL_PART + 4321, seed=84)
    acked = 4 * SMALL_PART + 1000
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
    first = Connection(server)
    first.hello(ticket, len(data))
    first.send_data(data, upto=acked)
    first.wait_for_ack(acked)
    wait_until(lambda: parts_sent(s3, ticket) >= 2, 10)
    upload = the_upload(s3, ticket)
    server.kill()
    if spool_lost:
        shutil.rmtree(Path(server.storage_dir) / "s3-spool")
    server.start()
    second = Connection(server)
    offset = second.hello(ticket, len(data))["offset"]
    if spool_lost:
        assert offset % SMALL_PART == 0 and 2 * SMALL_PART <= offset <= 4 * SMALL_PART
    else:
        assert offset == acked
    assert the_upload(s3, ticket) == upload
    second.send_data(data)
    [callback] = backend.wait_for_callbacks(ticket)
    assert_stored(s3, callback.form, ticket, data)


def test_cancelling_aborts_the_multipart_upload(server: IncomingServer, api: BackendAPI,
                                                backend: FakeBackend, s3: MotoServer) -> None:
    """A cancel by the backend aborts the multipart upload and deletes the manifest."""
    data = make_data(4 * SMALL_PART, seed=85)
    ticket = api.new_upload(backend.callback_url())
    conn = Connection(server)
    conn.hello(ticket, len(data))
    conn.send_data(data, upto=2 * SMALL_PART + 10)
    conn.wait_for_ack(2 * SMALL_PART + 10)
    wait_until(lambda: parts_sent(s3, ticket) >= 1, 10)
    api.cancel_upload(ticket)
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.cancelled
    assert [u for u in s3.multipart_uploads() if u[0] == PREFIX + ticket] == []
    assert [k for k in s3.object_keys() if ticket in k] == []


def test_remove_file_when_finished_deletes_the_object(
        server: IncomingServer, api: BackendAPI, backend: FakeBackend, s3: MotoServer) -> None:
    """removeFileWhenFinished: once the backend answered done, the object goes."""
    data = make_data(SMALL_PART + 5, seed=86)
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=True)
    with ResumingUpload(server, ticket, data) as upload:
        assert upload.wait_done(30) == "finished", upload.summary()
    wait_until(lambda: PREFIX + ticket not in s3.object_keys(), 10)
    assert [k for k in s3.object_keys() if ticket in k] == []


def tus(server: IncomingServer, method: str, ticket: str, offset: int | None = None,
        body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    """One raw tus request (``PATCH`` with ``offset``); the status and the headers."""
    headers = dict(headers or {})
    if offset is not None:
        headers |= {"Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream"}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        conn.request(method, TUS + ticket, body=body, headers={"Tus-Resumable": "1.0.0",
                                                               **headers})
        answer = conn.getresponse()
        answer.read()
        return answer.status, dict(answer.getheaders())
    finally:
        conn.close()


def test_a_tus_upload_moved_to_another_instance_hears_where_to_go_on(
        make_server: Callable[..., IncomingServer], redis_server: RedisServer,
        backend: FakeBackend, s3: MotoServer) -> None:
    """Two instances sharing Redis: a tus client that sent part of a file to a and asks b
    with HEAD hears the count a acknowledged (b cannot know the bucket's without taking the
    ticket; it must not say 0). A PATCH there may be refused with 409 (a's last bytes were
    still in a's spool) until HEAD says where b goes on (the count b saves as it refuses),
    and the file completes there, intact."""
    options = {**s3_options(s3), "state": redis_server.url, "lease_time": "2s"}
    a, b = make_server(**options), make_server(**options)
    data = make_data(4 * SMALL_PART + 77, seed=87)
    ticket = BackendAPI(a.api_url).new_upload(backend.callback_url(),
                                              remove_file_when_finished=False)
    metadata = "ticket " + base64.b64encode(ticket.encode()).decode()
    assert tus(a, "POST", "", headers={"Upload-Length": str(len(data)),
                                       "Upload-Metadata": metadata})[0] == 201
    acked = 2 * SMALL_PART + 1000
    assert tus(a, "PATCH", ticket, 0, data[:acked])[0] == 204
    assert int(tus(b, "HEAD", ticket)[1]["Upload-Offset"]) == acked
    statuses = []
    for _ in range(6):
        offset = int(tus(b, "HEAD", ticket)[1]["Upload-Offset"])
        if offset == len(data):
            break
        statuses.append(tus(b, "PATCH", ticket, offset, data[offset:])[0])
    assert statuses[-1] == 204 and set(statuses[:-1]) <= {409}, statuses
    [callback] = backend.wait_for_callbacks(ticket)
    assert_stored(s3, callback.form, ticket, data)

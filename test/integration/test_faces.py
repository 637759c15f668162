"""The same upload behaviours over every face of the ingest core: the WebSocket and tus.

Each face gets a small client with one interface (:class:`Face`): open a session
for a ticket (learning where to resume), send bytes up to an offset (learning
what is acknowledged), cancel, and drop the connection. The tests are written
once against it and run over each face, against a real ``twistd``.
"""

from __future__ import annotations

import base64
import contextlib
import http.client

import pytest

from test.integration.wsupload import Connection, make_data, sha256
from test.support.backend import BackendAPI, FakeBackend
from test.support.server import IncomingServer, wait_until

MiB = 1 << 20
TUS = "/incoming/0.1/tus/"


class Refused(Exception):
    """The face refused: ``kind`` names the refusal the same way for every face."""

    def __init__(self, kind: str, detail: object) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class Face:
    """One client session of one face."""

    def open(self, ticket: str, size: int) -> int:
        """Start (or resume) the upload; the offset to continue from."""
        raise NotImplementedError

    def send(self, data: bytes, upto: int) -> int:
        """Send ``data`` from the current offset up to ``upto``; the acknowledged offset."""
        raise NotImplementedError

    def cancel(self) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError


class WebSocketFace(Face):
    def __init__(self, server: IncomingServer) -> None:
        self.conn = Connection(server)

    def open(self, ticket: str, size: int) -> int:
        answer = self.conn.hello(ticket, size)
        if answer["type"] == "error":
            raise Refused(_WS_KINDS.get(answer["code"], str(answer["code"])), answer)
        return int(answer["offset"])

    def send(self, data: bytes, upto: int) -> int:
        try:
            self.conn.send_data(data, upto=upto)
            return self.conn.wait_for_ack(upto)
        except Exception as e:  # noqa: BLE001 — a close carries the reason in its error
            errors = self.conn.of_type("error")
            if errors:
                raise Refused(_WS_KINDS.get(errors[-1]["code"], "?"), errors[-1]) from None
            raise e

    def cancel(self) -> None:
        self.conn.send_json({"type": "cancel", "reason": "changed my mind"})
        self.conn.wait_for("cancelled")

    def drop(self) -> None:
        self.conn.drop()


_WS_KINDS = {5: "too_large", 11: "taken_over", 4: "closed"}


class TusFace(Face):
    def __init__(self, server: IncomingServer) -> None:
        self.server = server
        self.offset = 0
        self.url = ""
        self.http = http.client.HTTPConnection(server.host, server.port, timeout=15)

    def _request(self, method: str, path: str, body: bytes = b"",
                 headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        self.http.request(method, path, body=body,
                          headers={"Tus-Resumable": "1.0.0", **(headers or {})})
        response = self.http.getresponse()
        response.read()
        return response

    def open(self, ticket: str, size: int) -> int:
        metadata = "ticket " + base64.b64encode(ticket.encode()).decode()
        created = self._request("POST", TUS, headers={"Upload-Length": str(size),
                                                      "Upload-Metadata": metadata})
        if created.status != 201:
            raise Refused(_TUS_KINDS.get(created.status, str(created.status)), created.status)
        self.url = created.getheader("Location") or ""
        head = self._request("HEAD", self.url)
        self.offset = int(head.getheader("Upload-Offset") or 0)
        return self.offset

    def send(self, data: bytes, upto: int) -> int:
        answer = self._request("PATCH", self.url, body=data[self.offset:upto], headers={
            "Upload-Offset": str(self.offset),
            "Content-Type": "application/offset+octet-stream"})
        if answer.status != 204:
            raise Refused(_TUS_KINDS.get(answer.status, str(answer.status)), answer.status)
        self.offset = int(answer.getheader("Upload-Offset") or 0)
        return self.offset

    def cancel(self) -> None:
        assert self._request("DELETE", self.url).status == 204

    def drop(self) -> None:
        self.http.close()


_TUS_KINDS = {413: "too_large", 423: "taken_over", 410: "closed", 409: "conflict"}

FACES = {"websocket": WebSocketFace, "tus": TusFace}


@pytest.fixture(params=sorted(FACES))
def face(request: pytest.FixtureRequest, server: IncomingServer):
    made: list[Face] = []

    def make() -> Face:
        made.append(FACES[request.param](server))
        return made[-1]

    yield make
    for session in made:
        with contextlib.suppress(OSError):
            session.drop()


def test_an_upload_is_stored_and_handed_over(face, api: BackendAPI,
                                             backend: FakeBackend) -> None:
    """A whole upload over the face arrives byte-identical at the backend."""
    data = make_data(2 * MiB + 5, seed=1)
    ticket = api.new_upload(backend.callback_url())
    session = face()
    assert session.open(ticket, len(data)) == 0
    assert session.send(data, len(data)) == len(data)
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data) == callback.file_sha256


def test_a_new_session_resumes_at_the_acknowledged_offset(face, api: BackendAPI,
                                                          backend: FakeBackend) -> None:
    """After a cut, a new session continues exactly where the acknowledged bytes end."""
    data = make_data(3 * MiB, seed=2)
    ticket = api.new_upload(backend.callback_url())
    first = face()
    first.open(ticket, len(data))
    acked = first.send(data, MiB)
    first.drop()
    second = face()
    assert second.open(ticket, len(data)) == acked == MiB
    second.send(data, len(data))
    assert backend.wait_for_callbacks(ticket)[0].file_sha256 == sha256(data)


def test_a_newer_session_takes_the_upload_over(face, api: BackendAPI,
                                               backend: FakeBackend) -> None:
    """A second session for the same ticket wins; the older one's next bytes are refused
    (taken over, on the WebSocket; at an offset that is no longer the upload's, on tus) and
    append nothing."""
    data = make_data(2 * MiB, seed=3)
    ticket = api.new_upload(backend.callback_url())
    older = face()
    older.open(ticket, len(data))
    older.send(data, MiB // 2)
    newer = face()
    assert newer.open(ticket, len(data)) == MiB // 2
    newer.send(data, MiB)
    with pytest.raises(Refused) as refused:
        older.send(data, MiB)
    assert refused.value.kind in ("taken_over", "conflict")
    newer.send(data, len(data))
    assert backend.wait_for_callbacks(ticket)[0].file_sha256 == sha256(data)


def test_cancel_removes_the_bytes_and_the_backend_hears_it(face, api: BackendAPI,
                                                          backend: FakeBackend,
                                                          server: IncomingServer) -> None:
    """A cancel from the client ends the ticket cancelled; its bytes are gone."""
    data = make_data(MiB, seed=4)
    ticket = api.new_upload(backend.callback_url())
    session = face()
    session.open(ticket, len(data))
    session.send(data, MiB // 2)
    session.cancel()
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["cancelled"] == "yes"
    assert wait_until(lambda: not server.partial_path(ticket).exists(), 10)
    assert api.upload_status(ticket)["state"] == "cancelled"


def test_a_file_over_the_tickets_limit_is_refused(face, api: BackendAPI,
                                                  backend: FakeBackend) -> None:
    """A declared size above the ticket's maxSize is refused before any byte is sent."""
    ticket = api.new_upload(backend.callback_url(), max_size=1000)
    with pytest.raises(Refused) as refused:
        face().open(ticket, 1001)
    assert refused.value.kind == "too_large"


def test_a_finished_ticket_takes_no_more_uploads(face, api: BackendAPI,
                                                 backend: FakeBackend) -> None:
    """Once finished, a ticket refuses a new session on every face."""
    data = make_data(1000, seed=5)
    ticket = api.new_upload(backend.callback_url())
    done = face()
    done.open(ticket, len(data))
    done.send(data, len(data))
    backend.wait_for_callbacks(ticket)
    assert wait_until(lambda: api.upload_status(ticket)["state"] == "finished", 10)
    with pytest.raises(Refused) as refused:
        face().open(ticket, len(data))
    assert refused.value.kind == "closed"


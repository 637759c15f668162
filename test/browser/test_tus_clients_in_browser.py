"""Unmodified tus clients in a real Chromium: tus-js-client's browser build and Uppy's Tus
plugin (the ``uppy`` bundle) upload to ``/incoming/0.1/tus/`` from a page of another origin
(every request cross-origin, with CORS preflights), on the same tickets as our own library."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from test.browser.conftest import HERE, Browser, _QuietHandler
from test.support.backend import BackendAPI, FakeBackend
from test.support.proxy import CuttableProxy
from test.support.server import IncomingServer, wait_until

MiB = 1 << 20
TUS = "/incoming/0.1/tus/"
CLIENTS = ("tus-js-client", "uppy")
SAME_FOR_EVERY_FACE = ("size", "sha256", "filenameFromBrowser", "cancelled", "cancelReason",
                       "backendSecret")

pytestmark = pytest.mark.time_limit(90)


@pytest.fixture(scope="module")
def tus_page_url() -> Iterator[str]:
    """pages/tus_clients.html, with the clients' bundles from node_modules beside it."""
    handler = functools.partial(_QuietHandler, directory=str(HERE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/pages/tus_clients.html"
    httpd.shutdown()


@pytest.fixture
def chromium(tus_page_url: str, server: IncomingServer) -> Browser:
    return Browser("chromium", tus_page_url, server)


def endpoint(port: int | None) -> str:
    return f"http://127.0.0.1:{port}{TUS}"


def uploads_by_client(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {upload["client"]: upload for upload in result["uploads"]}


def test_both_clients_upload_and_the_backend_hears_what_our_library_gives(
        chromium: Browser, server: IncomingServer, api: BackendAPI,
        backend: FakeBackend) -> None:
    """tus-js-client and Uppy each upload the page's file; the backend's callbacks carry the
    same values as for the same file sent by our library, and the stored files are that file."""
    tickets = {client: api.new_upload(backend.callback_url(), backend_secret="app-secret")
               for client in (*CLIENTS, "incoming")}
    result = chromium.run(
        [{"client": client, "ticket": ticket, "endpoint": endpoint(server.port)}
         for client, ticket in tickets.items()],
        file={"size": 3 * MiB + 17, "name": "photo.jpg"}, timeout=40)
    uploads = uploads_by_client(result)
    for client in CLIENTS:
        assert uploads[client]["outcome"] == "success", uploads[client]
        assert uploads[client]["url"].endswith(TUS + tickets[client])
    assert uploads["incoming"]["outcome"] == "success", uploads["incoming"]
    [ours] = backend.wait_for_callbacks(tickets["incoming"])
    assert ours.file_sha256 == result["sha256"]
    for client in CLIENTS:
        [theirs] = backend.wait_for_callbacks(tickets[client])
        assert set(theirs.form) == set(ours.form), client
        for name in SAME_FOR_EVERY_FACE:
            assert theirs.form[name] == ours.form[name], (client, name)
        assert theirs.file_sha256 == result["sha256"]
        assert wait_until(lambda t=tickets[client]: api.upload_status(t, "app-secret")["state"]
                          == "finished", 10)


def test_both_clients_resume_after_their_connections_are_cut(
        chromium: Browser, server: IncomingServer, api: BackendAPI,
        backend: FakeBackend) -> None:
    """Through a proxy cut in the middle of the uploads, both clients ask HEAD where the
    server is and send the rest from there: the stored files are whole."""
    size = 8 * MiB
    tickets = {client: api.new_upload(backend.callback_url()) for client in CLIENTS}
    assert server.port is not None
    with CuttableProxy(server.port, rate=8 * MiB) as proxy:
        running = chromium.start(
            [{"client": client, "ticket": ticket, "endpoint": endpoint(proxy.port)}
             for client, ticket in tickets.items()],
            file={"size": size, "name": "cut.bin"}, timeout=60)
        wait_until(lambda: all(api.upload_status(t)["bytesReceived"] > MiB
                               for t in tickets.values()), 30)
        assert proxy.cut() >= 2
        result = chromium.collect(running)
        assert proxy.accepted >= 4  # each client came back on a new connection
    for client, upload in uploads_by_client(result).items():
        assert upload["outcome"] == "success", upload
        [callback] = backend.wait_for_callbacks(tickets[client])
        assert callback.file_sha256 == result["sha256"] and callback.form["cancelled"] == "no"


def test_termination_cancels_and_wrong_tickets_are_refused_clearly(
        chromium: Browser, server: IncomingServer, api: BackendAPI,
        backend: FakeBackend) -> None:
    """Termination (tus-js-client's abort(true), Uppy's cancelAll) cancels the ticket as our
    library's cancel does: the backend hears cancelled=yes, by the frontend. Unknown, missing
    and used tickets are refused with a 4xx that each client reports, with its reason."""
    terminated = {client: api.new_upload(backend.callback_url()) for client in CLIENTS}
    used = api.new_upload(backend.callback_url())
    assert server.port is not None
    with CuttableProxy(server.port, rate=4 * MiB) as slow:
        first = chromium.run(
            [{"client": client, "ticket": ticket, "endpoint": endpoint(slow.port),
              "chunkSize": MiB, "terminateAfterBytes": MiB}
             for client, ticket in terminated.items()]
            + [{"client": "incoming", "ticket": used}],
            file={"size": 12 * MiB, "name": "t.bin"}, timeout=40)
    for client, ticket in terminated.items():
        assert uploads_by_client(first)[client]["outcome"] == "terminated", first
        [callback] = backend.wait_for_callbacks(ticket, where=lambda c: c.cancelled)
        assert callback.form["cancelReason"] == "terminated by the tus client"
        assert wait_until(lambda t=ticket: api.upload_status(t)["state"] == "cancelled", 10)
        status = api.upload_status(ticket)
        assert status["cancelledBy"] == "frontend", client
        assert not server.partial_path(ticket).exists()
    assert uploads_by_client(first)["incoming"]["outcome"] == "success"
    backend.wait_for_callbacks(used)

    wrong = {"no-such-ticket": (404, "no such ticket"), "": (400, "ticket"),
             used: (410, "finished")}
    second = chromium.run(
        [{"client": client, "ticket": ticket, "endpoint": endpoint(server.port)}
         for client in CLIENTS for ticket in wrong],
        file={"size": 1000, "name": "w.bin"}, timeout=30)
    for spec, upload in zip([(c, t) for c in CLIENTS for t in wrong], second["uploads"],
                            strict=True):
        status, words = wrong[spec[1]]
        assert upload["outcome"] == "error", (spec, upload)
        assert (upload["status"], words in upload["body"]) == (status, True), (spec, upload)

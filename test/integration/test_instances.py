"""Two real ``twistd incoming`` instances sharing a Redis state and a storage directory (the
shared-file-system case), as behind a load balancer: a client that moves continues its
upload, one that is killed with SIGKILL loses its tickets to the other within the lease
time, and every ticket ends once, with the backend told."""

from __future__ import annotations

import hashlib
import re
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from test.integration.conftest import FAST_OPTIONS
from test.integration.wsupload import Connection, make_data, sha256
from test.support.backend import DONE, APIError, BackendAPI, FakeBackend
from test.support.redis_server import RedisServer, redis_factory
from test.support.resuming import ResumingUpload
from test.support.server import IncomingServer

MiB = 1 << 20
LEASE = 2.0
CLIENT = {"first_delay": 0.05, "most_delay": 0.5, "deadline": 25.0}


@attrs.define
class Target:
    """Where the client connects next: the test moves it from one instance to another (as a
    load balancer without sticky sessions does)."""

    server: IncomingServer
    host: str = "127.0.0.1"
    ws_path: str = "/incoming/0.1/frontend/upload_ws"

    @property
    def port(self) -> int | None:
        return self.server.port


@pytest.fixture
def pair(make_server: Callable[..., IncomingServer], redis_server: RedisServer,
         tmp_path: Path) -> tuple[IncomingServer, IncomingServer, Path]:
    """Instances a and b over one Redis and one storage directory."""
    redis_server.client().flushdb()
    shared = tmp_path / "shared-storage"
    options = {**FAST_OPTIONS, "state": redis_server.url, "lease_time": f"{LEASE:g}s",
               "window_size": "2MiB", "chunk_size": "256KiB"}
    return (make_server(storage_dir=shared, **options),
            make_server(storage_dir=shared, **options), shared)


def finished_events(servers: tuple[IncomingServer, ...], ticket: str) -> int:
    return sum(len(re.findall(rf"ticket {re.escape(ticket[:8])} finished:", s.log))
               for s in servers)


def stored(storage: Path, ticket: str) -> str:
    return hashlib.sha256((storage / "complete" / ticket).read_bytes()).hexdigest()


@pytest.mark.time_limit(40)
def test_a_newer_connection_on_another_instance_takes_the_upload_over(
        pair: tuple[IncomingServer, IncomingServer, Path], backend: FakeBackend) -> None:
    """An upload begun on a continues on b from the bytes a wrote; a's connection is refused
    (error 11, taken over) instead of appending, and the ticket finishes once."""
    a, b, storage = pair
    api = BackendAPI(a.api_url)
    data = make_data(10 * MiB, seed=81)
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
    with ResumingUpload(Target(a), ticket, data, pause_at=4 * MiB, **CLIENT) as first:  # type: ignore[arg-type]
        assert first.paused_at_mark.wait(15), first.summary()
        with ResumingUpload(Target(b), ticket, data, **CLIENT) as second:  # type: ignore[arg-type]
            assert second.wait_done(20) == "finished", second.summary()
        assert first.wait_done(10) == "failed: error 11 a newer connection took over this " \
                                      "ticket", first.summary()
    assert second.welcomed[0].offset is not None and second.welcomed[0].offset >= MiB, (
        "b resumed from what a had written", second.summary())
    assert stored(storage, ticket) == sha256(data)
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data)
    assert BackendAPI(b.api_url).upload_status(ticket)["state"] == "finished"
    assert finished_events((a, b), ticket) == 1
    a.wait_for_log(rf"ticket {ticket[:8]}: lease lost to another instance")


def moved_mid_upload(pair: tuple[IncomingServer, IncomingServer, Path], backend: FakeBackend,
                     seed: int, stop: Callable[[IncomingServer], object]
                     ) -> tuple[str, bytes, ResumingUpload, float]:
    """An upload begun on a, paused half-way with bytes in flight; then ``stop(a)``, and the
    client's next connections go to b. (ticket, data, the upload, when a was stopped)."""
    a, b, _ = pair
    data = make_data(8 * MiB, seed=seed)
    ticket = BackendAPI(a.api_url).new_upload(backend.callback_url(),
                                              remove_file_when_finished=False)
    target = Target(a)
    with ResumingUpload(target, ticket, data, pause_at=4 * MiB, **CLIENT) as upload:  # type: ignore[arg-type]
        assert upload.paused_at_mark.wait(15), upload.summary()
        target.server = b
        stop(a)
        stopped = time.monotonic()
        assert upload.wait_done(20) == "finished", upload.summary()
    return ticket, data, upload, stopped


@pytest.mark.time_limit(40)
def test_an_instance_killed_mid_upload_loses_it_to_another(
        pair: tuple[IncomingServer, IncomingServer, Path], backend: FakeBackend) -> None:
    """a is killed with SIGKILL with bytes in flight; the client reconnects to b, which goes
    on once a's lease lapsed (within the lease time), from what is in the shared file; the
    file is intact and the backend hears once."""
    a, b, storage = pair
    ticket, data, upload, killed = moved_mid_upload(pair, backend, 82, IncomingServer.kill)
    resumed = [attempt for attempt in upload.welcomed if attempt.welcome_at is not None
               and attempt.welcome_at > killed]
    assert resumed, upload.summary()
    assert resumed[0].welcome_at - killed < LEASE + 30  # type: ignore[operator]
    assert resumed[0].offset and resumed[0].offset > 0, upload.summary()
    assert "taking over" in b.log, "a's lease was live when the client came"
    assert stored(storage, ticket) == sha256(data)
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data) and not callback.cancelled
    assert finished_events((a, b), ticket) == 1
    with pytest.raises(AssertionError, match="timed out"):
        backend.wait_for_callbacks(ticket, count=2, timeout=1.0)


@pytest.mark.time_limit(40)
def test_a_killed_instances_handover_is_made_by_another(
        pair: tuple[IncomingServer, IncomingServer, Path], backend: FakeBackend) -> None:
    """a is killed while the backend holds its callback; b takes the handover on within the
    lease time plus its round (here 2 s + 2 s; the bound is the lease time + 30 s), and the
    ticket finishes once."""
    a, b, storage = pair
    api = BackendAPI(a.api_url)
    data = make_data(1 * MiB, seed=83)
    ticket = api.new_upload(backend.callback_url(), backend_secret="s")
    held = backend.hold(ticket, DONE)
    with ResumingUpload(Target(a), ticket, data, **CLIENT) as upload:  # type: ignore[arg-type]
        [first] = backend.wait_for_callbacks(ticket, timeout=10)
        backend.answer(ticket, DONE)  # b's call is answered at once
        a.kill()
        killed = time.monotonic()
        held.set()  # a's answer goes to a dead connection
        calls = backend.wait_for_callbacks(ticket, count=2, timeout=LEASE + 30)
        upload.stop()
    assert calls[1].received_at - killed < LEASE + 30
    assert calls[1].form == first.form, "at least once: the same callback again"
    b.wait_for_log(rf"ticket {ticket[:8]} finished:")
    assert BackendAPI(b.api_url).upload_status(ticket, "s")["state"] == "finished"
    assert finished_events((a, b), ticket) == 1
    with pytest.raises(AssertionError, match="timed out"):
        backend.wait_for_callbacks(ticket, count=3, timeout=LEASE + 1)


@pytest.mark.time_limit(40)
def test_a_stalled_writer_wakes_to_a_refusal(
        pair: tuple[IncomingServer, IncomingServer, Path], backend: FakeBackend) -> None:
    """a is stopped (SIGSTOP) with a client's bytes still in its socket; b takes the ticket
    once a's lease ran out and completes it with another client's bytes. When a wakes, its
    lease is no longer sure: it asks Redis before writing, learns it is stale, and appends
    nothing (the stored file is exactly b's)."""
    a, b, storage = pair
    api = BackendAPI(a.api_url)
    stale, fresh = make_data(4 * MiB, seed=84), make_data(4 * MiB, seed=85)
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
    old = Connection(a, timeout=20)
    assert old.hello(ticket, len(stale))["offset"] == 0
    assert a.process is not None
    a.process.send_signal(signal.SIGSTOP)
    try:
        old.send_data(stale, upto=MiB)  # into the kernel's buffers: a reads them on waking
        with ResumingUpload(Target(b), ticket, fresh, **CLIENT) as upload:  # type: ignore[arg-type]
            assert upload.wait_done(20) == "finished", upload.summary()
        assert upload.welcomed[0].offset == 0
    finally:
        a.process.send_signal(signal.SIGCONT)
    assert old.expect_error(11)["code"] == 11
    old.close()
    a.wait_for_log(rf"ticket {ticket[:8]}: lease lost to another instance")
    time.sleep(0.5)  # a write it were to make would land now
    assert (storage / "complete" / ticket).read_bytes() == fresh
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(fresh)
    assert finished_events((a, b), ticket) == 1


@pytest.mark.time_limit(40)
def test_an_outage_of_redis_is_reported_and_survived(
        make_server: Callable[..., IncomingServer], tmp_path: Path) -> None:
    """While Redis is down, /healthz says so, the backend API answers 500 and a client's
    hello a retryable error; once Redis is back, tickets are made and uploaded as before."""
    with redis_factory(tmp_path / "own-redis") as make_redis:
        redis = make_redis()
        server = make_server(**FAST_OPTIONS, state=redis.url, lease_time="2s")
        api = BackendAPI(server.api_url)
        ticket = api.new_upload("http://127.0.0.1:9/unused")
        redis.stop()
        health = requests_get(server.base_url + "/healthz")
        assert health[0] == 503 and "ticket registry not answering" in health[1], health
        with pytest.raises(APIError, match="HTTP 500: the shared state \\(Redis\\) failed"):
            api.new_upload("http://127.0.0.1:9/unused")
        conn = Connection(server)
        assert conn.hello(ticket, 10)["code"] == 12  # storage_failed: retryable
        conn.close()
        redis.start(same_port=True)  # empty: the outage took the tickets with it
        server.wait_for_log("receiving messages from Redis again", timeout=10)
        assert requests_get(server.base_url + "/healthz") == (200, "ok")
        again = api.new_upload("http://127.0.0.1:9/unused")
        with Connection(server) as conn:
            assert conn.hello(again, 10)["type"] == "welcome"


def requests_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read().decode().strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode().strip()


@pytest.mark.time_limit(40)
def test_state_over_tls(make_server: Callable[..., IncomingServer], backend: FakeBackend,
                        tmp_path: Path) -> None:
    """rediss:// reaches a Redis that speaks TLS only (the CA given in the URL), and an
    upload runs through it to finished."""
    with redis_factory(tmp_path / "tls-redis") as make_redis:
        redis = make_redis(tls=True)
        server = make_server(**FAST_OPTIONS, state=redis.url)
        api = BackendAPI(server.api_url)
        data = make_data(MiB, seed=86)
        ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
        with ResumingUpload(server, ticket, data, **CLIENT) as upload:
            assert upload.wait_done(20) == "finished", upload.summary()
        assert redis.client().sismember("incoming:attention", ticket) == 0
        assert hashlib.sha256(server.complete_path(ticket).read_bytes()).hexdigest() == \
            sha256(data)


@pytest.mark.time_limit(40)
def test_a_stopped_instance_hands_its_uploads_on_at_once(
        pair: tuple[IncomingServer, IncomingServer, Path], backend: FakeBackend) -> None:
    """a is stopped with SIGTERM mid-upload: it releases its leases as it goes, so b takes
    the ticket without waiting for one to run out, and the upload finishes there."""
    a, b, storage = pair
    ticket, data, upload, _ = moved_mid_upload(pair, backend, 87, IncomingServer.stop)
    assert [e["code"] for e in upload.errors] == [13], upload.summary()
    assert "taking over" not in b.log, "the lease was free: nothing to take over"
    assert stored(storage, ticket) == sha256(data)
    assert finished_events((a, b), ticket) == 1

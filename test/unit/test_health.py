"""/healthz: 200 while storage takes a durable write and the registry answers, else 503 why."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from incoming.health import PROBE_TIMEOUT, HealthCheck, HealthResource
from incoming.registry.memory import MemoryRegistry
from incoming.registry.sqlite import SQLiteRegistry
from incoming.tickets import Ticket
from test.support.doubles import HeldThreads, ImmediateThreads, clock_at


def resource(storage, registry=None, threads=None, clock=None):
    threads = threads or ImmediateThreads()
    clock = clock or clock_at()
    check = HealthCheck(str(storage), registry or MemoryRegistry(), clock, threads, threads)
    return HealthResource(check), clock


def get(health: HealthResource) -> DummyRequest:
    request = DummyRequest([b""])
    assert health.render_GET(request) is NOT_DONE_YET
    return request


def answer(request: DummyRequest) -> tuple[int, str]:
    assert request.finished, "no answer yet"
    return request.responseCode or 200, b"".join(request.written).decode()


def test_healthy_server_answers_ok_uncached_and_leaves_no_probe_file(tmp_path):
    """With a writable directory and a working registry the answer is 200 ok, never cached."""
    health, _ = resource(tmp_path)
    request = get(health)
    assert answer(request) == (200, "ok\n")
    assert request.responseHeaders.getRawHeaders(b"cache-control") == [b"no-store"]
    assert request.responseHeaders.getRawHeaders(b"content-type") == [b"text/plain; charset=utf-8"]
    assert list(tmp_path.iterdir()) == []


def test_missing_storage_directory_is_503_with_the_reason(tmp_path):
    """A storage directory that cannot take a file gives 503 'storage not writable: …'."""
    health, _ = resource(tmp_path / "gone")
    code, text = answer(get(health))
    assert code == 503
    assert text.startswith("storage not writable: No such file or directory")
    assert text.count("\n") == 1


def test_storage_path_that_is_a_file_is_503(tmp_path):
    """A storage path that is not a directory is reported as not writable."""
    (tmp_path / "file").write_text("x")
    health, _ = resource(tmp_path / "file")
    code, text = answer(get(health))
    assert code == 503 and text.startswith("storage not writable: Not a directory")


def test_closed_registry_is_503_naming_the_registry(tmp_path):
    """A registry that raises makes the answer 503 'ticket registry not answering: …'."""
    registry = SQLiteRegistry(str(tmp_path / "t.sqlite3"))
    registry.close()
    health, _ = resource(tmp_path, registry)
    code, text = answer(get(health))
    assert code == 503 and text.startswith("ticket registry not answering: ")
    assert "closed database" in text


class SilentRegistry(MemoryRegistry):
    def load(self, ticket_id: str) -> Deferred[Ticket | None]:
        return Deferred()


def test_registry_that_never_answers_times_out(tmp_path):
    """A registry that never answers is 503 after the probe timeout, not a hung request."""
    health, clock = resource(tmp_path, SilentRegistry())
    request = get(health)
    assert not request.finished
    clock.advance(PROBE_TIMEOUT)
    assert answer(request) == (503, "ticket registry not answering: no answer in time\n")


def test_hung_disk_times_out_and_later_checks_share_the_one_probe(tmp_path):
    """A probe stuck in its thread gives 503 at the timeout; checks meanwhile start no new probe."""
    threads = HeldThreads()
    health, clock = resource(tmp_path, threads=threads)
    first = get(health)
    second = get(health)
    assert len(threads.held) == 1, "one probe in flight, whatever the number of requests"
    clock.advance(PROBE_TIMEOUT)
    assert answer(first) == (503, "storage not writable: no answer in time\n")
    assert answer(second)[0] == 503
    threads.run()  # the disk comes back
    third = get(health)
    assert threads.run() == 1
    assert answer(third) == (200, "ok\n")


def test_checks_that_timed_out_on_a_hung_probe_are_not_kept(tmp_path) -> None:
    """While a probe hangs for good, each check that has timed out is let go: polling a hung
    server does not grow its memory."""
    threads = HeldThreads()
    clock = clock_at()
    check = HealthCheck(str(tmp_path), MemoryRegistry(), clock, threads, threads)
    health = HealthResource(check)
    for _ in range(50):
        get(health)
        clock.advance(PROBE_TIMEOUT)
    assert len(threads.held) == 1
    assert len(check._waiting) <= 1

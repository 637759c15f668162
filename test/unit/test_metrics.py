"""Metrics: a registry of their own, figures looked up at scrape time, the /metrics resource."""

from __future__ import annotations

import math

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.defer import Deferred, fail
from twisted.logger import LogLevel, capturedLogs
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from incoming.metrics import Metrics, MetricsResource, free_bytes
from incoming.registry.memory import MemoryRegistry
from incoming.tickets import State, Ticket


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(resource: MetricsResource) -> DummyRequest:
    request = DummyRequest([b""])
    assert resource.render_GET(request) is NOT_DONE_YET
    return request


def body(request: DummyRequest) -> str:
    return b"".join(request.written).decode()


def ticket(number: int, state: State) -> Ticket:
    return Ticket(id=f"ticket-{number:026d}", signal_finish_url="http://b.test/", state=state)


def test_a_fresh_server_shows_every_outcome_and_result_at_zero():
    """Counters are there from the start, at 0, for each outcome and callback result."""
    found = samples(Metrics().render().decode())
    for outcome in ("finished", "cancelled", "expired", "failed"):
        assert found[("incoming_uploads_total", (("outcome", outcome),))] == 0
    for result in ("accepted", "refused", "error", "timeout"):
        assert found[("incoming_callbacks_total", (("result", result),))] == 0
    assert found[("incoming_bytes_received_total", ())] == 0
    assert found[("incoming_upload_seconds_count", ())] == 0
    assert found[("incoming_handover_seconds_count", ())] == 0


def test_two_metrics_objects_count_separately():
    """Each Metrics has its own registry: counting in one leaves the other at zero."""
    one, two = Metrics(), Metrics()
    one.bytes_received.inc(5)
    assert samples(two.render().decode())[("incoming_bytes_received_total", ())] == 0
    assert samples(one.render().decode())[("incoming_bytes_received_total", ())] == 5


def test_connections_are_asked_at_scrape_time():
    """The connections gauge shows what the function answers when scraped, not when made."""
    open_now = [3]
    metrics = Metrics(connections=lambda: open_now[0])
    open_now[0] = 7
    assert samples(metrics.render().decode())[("incoming_connections", ())] == 7


def test_storage_free_bytes_comes_from_the_file_system(tmp_path):
    """The free-bytes gauge is statvfs of the storage directory; NaN when it is gone."""
    found = samples(Metrics(storage_dir=str(tmp_path)).render().decode())
    assert found[("incoming_storage_free_bytes", ())] > 0
    assert math.isnan(free_bytes(str(tmp_path / "missing")))


def test_resource_counts_non_terminal_tickets_per_state():
    """/metrics counts tickets by non-terminal state, every such state shown, terminal ones not."""
    registry = MemoryRegistry()
    for number, state in enumerate([State.UPLOADING, State.UPLOADING, State.WAITING_FOR_BACKEND,
                                    State.FINISHED, State.CANCELLED]):
        registry.save(ticket(number, state))
    request = scrape(MetricsResource(Metrics(tickets=registry)))
    assert request.finished
    assert request.responseHeaders.getRawHeaders(b"content-type") == [CONTENT_TYPE_LATEST.encode()]
    found = samples(body(request))
    tickets = {labels[0][1]: v for (name, labels), v in found.items() if name == "incoming_tickets"}
    assert tickets == {"created": 0, "uploading": 2, "paused": 0, "stored": 0,
                       "handing_over": 0, "waiting_for_backend": 1}


class SlowRegistry(MemoryRegistry):
    def __init__(self) -> None:
        super().__init__()
        self.asked: list[Deferred[list[Ticket]]] = []

    def needing_attention(self) -> Deferred[list[Ticket]]:
        self.asked.append(Deferred())
        return self.asked[-1]


def test_resource_renders_only_once_the_registry_answered():
    """Nothing is written until the registry's Deferred fires; then the fresh count is shown."""
    registry = SlowRegistry()
    request = scrape(MetricsResource(Metrics(tickets=registry)))
    assert request.written == [] and not request.finished
    registry.asked[0].callback([ticket(1, State.PAUSED)])
    assert request.finished
    assert samples(body(request))[("incoming_tickets", (("state", "paused"),))] == 1


def test_a_client_gone_before_the_answer_gets_nothing():
    """A scrape whose connection closed while the registry was asked writes nothing."""
    registry = SlowRegistry()
    request = scrape(MetricsResource(Metrics(tickets=registry)))
    request.processingFailed(Exception("connection lost"))
    registry.asked[0].callback([])
    assert request.written == []


class BrokenRegistry(MemoryRegistry):
    def needing_attention(self) -> Deferred[list[Ticket]]:
        return fail(RuntimeError("database is locked"))


def test_a_failing_registry_leaves_out_only_the_ticket_counts():
    """When the registry fails, /metrics still answers with every other metric, and logs why."""
    metrics = Metrics(tickets=BrokenRegistry())
    metrics.uploads.labels(outcome="finished").inc()
    with capturedLogs() as events:
        request = scrape(MetricsResource(metrics))
    found = samples(body(request))
    assert request.finished and request.responseCode in (None, 200)
    assert found[("incoming_uploads_total", (("outcome", "finished"),))] == 1
    assert not any(name == "incoming_tickets" for name, _ in found)
    assert [e["log_level"] for e in events] == [LogLevel.critical]

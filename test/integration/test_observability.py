"""/metrics, /healthz and the lifecycle log of a real server after real uploads."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from test.integration.conftest import FAST_OPTIONS
from test.integration.wsupload import Connection, make_data, upload
from test.support.backend import WAIT, BackendAPI, FakeBackend
from test.support.server import IncomingServer, wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def get(server: IncomingServer, path: str) -> tuple[int, dict[str, str], str]:
    """Status, headers and body of a GET (an error status is an answer, not an exception)."""
    try:
        with urllib.request.urlopen(server.base_url + path, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def scrape(server: IncomingServer) -> Samples:
    status, headers, text = get(server, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def fresh(make_server: Any) -> IncomingServer:
    """A server of the test's own: its counters start at zero."""
    return make_server(**FAST_OPTIONS)


@pytest.mark.time_limit(60)
def test_metrics_count_real_uploads(fresh: IncomingServer, backend: FakeBackend) -> None:
    """After two finished uploads, a cancelled one and one the backend said wait to, /metrics
    counts each outcome, every acknowledged byte, the callbacks and the durations."""
    api = BackendAPI(fresh.api_url)
    done = [make_data(300_000, seed=11), make_data(200_001, seed=12)]
    for data in done:
        assert upload(fresh, api.new_upload(backend.callback_url()), data).states[-1] == "finished"

    cancelled = api.new_upload(backend.callback_url())
    conn = Connection(fresh)
    conn.hello(cancelled, 100_000)
    conn.send_data(make_data(100_000, seed=13), upto=40_000)
    conn.wait_for_ack(40_000)
    assert value(scrape(fresh), "incoming_connections") == 1
    api.cancel_upload(cancelled)
    conn.wait_for("cancelled")
    conn.close()

    waiting = api.new_upload(backend.callback_url())
    backend.answer(waiting, WAIT)
    wait_data = make_data(50_000, seed=14)
    held = Connection(fresh)
    held.hello(waiting, len(wait_data))
    held.send_data(wait_data)
    held.wait_for("state", state="waiting_for_backend")

    # The cancel notice is delivered after the cancel answers: wait for its callback to count.
    def four_accepted() -> Samples | None:
        found = scrape(fresh)
        return found if value(found, "incoming_callbacks_total", result="accepted") >= 4 else None

    samples = wait_until(four_accepted, 10, message="four accepted callbacks")
    assert value(samples, "incoming_uploads_total", outcome="finished") == 2
    assert value(samples, "incoming_uploads_total", outcome="cancelled") == 1
    assert value(samples, "incoming_uploads_total", outcome="expired") == 0
    assert value(samples, "incoming_bytes_received_total") == sum(map(len, done)) + 40_000 + len(
        wait_data)
    assert value(samples, "incoming_upload_seconds_count") == 3
    assert value(samples, "incoming_handover_seconds_count") == 3
    assert value(samples, "incoming_tickets", state="waiting_for_backend") == 1
    assert value(samples, "incoming_tickets", state="uploading") == 0
    assert value(samples, "incoming_storage_free_bytes") > 0

    api.finish_upload(waiting)
    held.wait_for("state", state="finished")
    held.close()
    after = scrape(fresh)
    assert value(after, "incoming_uploads_total", outcome="finished") == 3
    assert value(after, "incoming_tickets", state="waiting_for_backend") == 0
    assert value(after, "incoming_connections") == 0


def lifecycle_lines(server: IncomingServer, short: str) -> list[str]:
    return [line for line in server.log.splitlines()
            if "[incoming.lifecycle" in line and f"ticket {short} " in line]


def test_log_has_one_line_per_step_and_never_the_full_ticket_id(
        fresh: IncomingServer, backend: FakeBackend) -> None:
    """An upload leaves one lifecycle line per step in the server log, and its full ID nowhere."""
    api = BackendAPI(fresh.api_url)
    ticket = api.new_upload(backend.callback_url(), backend_secret="not-for-logs")
    upload(fresh, ticket, make_data(123_456, seed=21))
    fresh.wait_for_log(rf"ticket {re.escape(ticket[:8])} finished")
    lines = lifecycle_lines(fresh, ticket[:8])
    for step in ("created", "connected at offset 0", "stored: 123456 bytes",
                 "handover attempt 1: accepted", "handed over", "finished: 123456 bytes"):
        assert sum(f"ticket {ticket[:8]} {step}" in line for line in lines) == 1, (step, lines)
    assert len(lines) == 6, lines
    fresh.stop()
    assert ticket not in fresh.log
    assert "not-for-logs" not in fresh.log


def test_healthz_follows_the_storage_directory(fresh: IncomingServer) -> None:
    """/healthz is 200 ok, 503 with the reason while the storage directory is gone, then 200."""
    assert get(fresh, "/healthz")[0::2] == (200, "ok\n")
    status, headers, _ = get(fresh, "/healthz")
    assert headers["Cache-Control"] == "no-store"
    away = fresh.storage_dir.with_name(fresh.storage_dir.name + "-away")
    fresh.storage_dir.rename(away)  # root writes anywhere: a missing directory fails for all
    try:
        status, _, text = get(fresh, "/healthz")
        assert status == 503
        assert text.startswith("storage not writable: No such file or directory")
        assert text.count("\n") == 1
    finally:
        away.rename(fresh.storage_dir)
    assert get(fresh, "/healthz")[0::2] == (200, "ok\n")

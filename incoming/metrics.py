"""Prometheus metrics of one server process, and the ``/metrics`` resource that serves them.

Every metric lives in a :class:`Metrics` object's own ``CollectorRegistry``,
never in prometheus-client's global one: tests, and several services in one
process, each count for themselves. The office never touches these counters
directly; :mod:`incoming.lifecycle` turns each step of a ticket's life into
log events and metric updates in one place.

Some figures are not counted but looked up when Prometheus scrapes: open
connections (a function the wiring passes in), free bytes in the storage
directory (``statvfs``), and tickets per non-terminal state (the registry's
``needing_attention()``, which answers with a Deferred — so the resource asks
first and renders once it has the answer).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from incoming.registry import Registry
from incoming.tickets import State, Ticket

OUTCOMES = ("finished", "cancelled", "expired", "failed")
CALLBACK_RESULTS = ("accepted", "refused", "error", "timeout")
OPEN_STATES = tuple(state for state in State if not state.terminal)

UPLOAD_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0,
                  86400.0, 7 * 86400.0)
"""Uploads take seconds to days (a resumed upload counts from its first hello)."""
HANDOVER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
                    3600.0)
"""A healthy backend answers in well under a second; retries stretch this to the deadline."""


class Metrics:
    """The counters, gauges and histograms of one server, in a registry of their own."""

    def __init__(self, connections: Callable[[], int] = lambda: 0,
                 storage_dir: str | None = None, tickets: Registry | None = None) -> None:
        """``connections``: open upload connections right now; ``storage_dir``: whose free
        space to report; ``tickets``: the registry to count non-terminal tickets in (each
        left out if not given)."""
        self.registry = CollectorRegistry()
        self._tickets = tickets
        self._states: dict[State, int] | None = None
        self.uploads = Counter("incoming_uploads", "Uploads that ended, by outcome.",
                               ["outcome"], registry=self.registry)
        self.bytes_received = Counter("incoming_bytes_received",
                                      "File bytes written and acknowledged to clients.",
                                      registry=self.registry)
        self.callbacks = Counter("incoming_callbacks",
                                 "Attempts to call the backend's signalFinishURL, by result.",
                                 ["result"], registry=self.registry)
        self.refusals = Counter("incoming_refusals",
                                "Client hellos refused, by error name.", ["error"],
                                registry=self.registry)
        self.handover_seconds = Histogram(
            "incoming_handover_seconds", "From stored to the backend accepting the file.",
            buckets=HANDOVER_BUCKETS, registry=self.registry)
        self.upload_seconds = Histogram(
            "incoming_upload_seconds", "From a ticket's first hello to its file being stored.",
            buckets=UPLOAD_BUCKETS, registry=self.registry)
        for outcome in OUTCOMES:
            self.uploads.labels(outcome=outcome)
        for result in CALLBACK_RESULTS:
            self.callbacks.labels(result=result)
        Gauge("incoming_connections", "Upload connections open right now.",
              registry=self.registry).set_function(connections)
        if storage_dir is not None:
            Gauge("incoming_storage_free_bytes",
                  "Bytes available to the server in the storage directory's file system.",
                  registry=self.registry).set_function(lambda: free_bytes(storage_dir))
        if tickets is not None:
            self.registry.register(_TicketStates(self))

    def refresh(self) -> Deferred[None]:
        """Count the tickets per state now, for the next render (nothing to do without a
        registry). A registry that fails leaves the figures out rather than stale."""
        if self._tickets is None:
            return succeed(None)
        self._states = None
        asked = self._tickets.needing_attention().addCallback(self._count_states)
        return asked

    def _count_states(self, tickets: list[Ticket]) -> None:
        counts = dict.fromkeys(OPEN_STATES, 0)
        for ticket in tickets:
            if ticket.state in counts:
                counts[ticket.state] += 1
        self._states = counts

    def render(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)


class _TicketStates:
    """A collector for ``incoming_tickets``: the counts the last :meth:`Metrics.refresh` found."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        states = self._metrics._states
        if states is None:
            return
        family = GaugeMetricFamily("incoming_tickets",
                                   "Tickets in each non-terminal state.", labels=["state"])
        for state, count in states.items():
            family.add_metric([state.value], count)
        yield family

    def describe(self) -> list[Metric]:
        return []  # computed per scrape: nothing to check at registration


def free_bytes(path: str) -> float:
    """Bytes an unprivileged writer may still use under ``path`` (NaN if it cannot be told)."""
    try:
        stat = os.statvfs(path)
    except OSError:
        return math.nan
    return float(stat.f_bavail * stat.f_frsize)


class MetricsResource(Resource):
    """``GET /metrics``: the Prometheus text format (the wiring adds any access control)."""

    isLeaf = True
    log = Logger()

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self._metrics = metrics

    def render_GET(self, request: Request) -> Any:
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        refreshed = self._metrics.refresh()
        refreshed.addErrback(self._registry_failed)
        refreshed.addCallback(lambda _: None if gone else self._send(request))
        refreshed.addErrback(self._render_failed, request, gone)
        return NOT_DONE_YET

    def _registry_failed(self, failure: Failure) -> None:
        """Render the rest: one failing figure must not hide every other one."""
        self.log.failure("counting tickets for /metrics failed", failure)

    def _render_failed(self, failure: Failure, request: Request, gone: list[bool]) -> None:
        self.log.failure("rendering /metrics failed", failure)
        if not gone:
            request.setResponseCode(500)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            request.write(b"metrics failed\n")
            request.finish()

    def _send(self, request: Request) -> None:
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        request.setHeader(b"Cache-Control", b"no-store")
        request.write(self._metrics.render())
        request.finish()

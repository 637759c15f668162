"""What ``service.py`` needs to make a server observable, built in one call.

:func:`observability` makes the lifecycle (given to the office, and to the
handover as its ``observer``), the ``/metrics`` and ``/healthz`` resources,
and a service that owns the health check's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from twisted.application.service import Service
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import Resource

from incoming.health import HealthCheck, HealthResource
from incoming.lifecycle import Lifecycle
from incoming.metrics import Metrics, MetricsResource
from incoming.registry import Registry


class ThreadPoolService(Service):
    """Starts a thread pool with the server and stops it on the way out."""

    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> None:
        super().stopService()
        self.pool.stop()


@attrs.frozen
class Observability:
    lifecycle: Lifecycle
    """Pass to ``TicketOffice(..., lifecycle=)`` and ``Handover(..., observer=)``."""
    metrics: Metrics
    metrics_resource: Resource
    """Mount at ``/metrics`` (behind whatever access control the site has)."""
    health_resource: Resource
    """Mount at ``/healthz`` (no key: load balancers poll it)."""
    service: Service
    """Give it a parent: it runs the health probe's thread."""


def observability(registry: Registry, storage_dir: str, reactor: Any,
                  connections: Callable[[], int]) -> Observability:
    """``reactor``: the clock and thread bridge; ``connections``: open upload connections
    now, asked at each scrape (it may refer to an office made after this call)."""
    metrics = Metrics(connections=connections, storage_dir=storage_dir, tickets=registry)
    pool = ThreadPool(minthreads=0, maxthreads=1, name="incoming-healthz")
    check = HealthCheck(storage_dir, registry, reactor, reactor, pool)
    return Observability(
        lifecycle=Lifecycle(metrics, reactor),
        metrics=metrics,
        metrics_resource=MetricsResource(metrics),
        health_resource=HealthResource(check),
        service=ThreadPoolService(pool),
    )

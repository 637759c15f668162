"""Builds the server: one MultiService holding the web site, the janitor and the office.

This is the only module that wires parts together; below it nothing imports
the global reactor, reads the wall clock or opens a port.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sqlite3
import sys
from typing import Any

from twisted.application.internet import TimerService
from twisted.application.service import MultiService, Service
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import Site
from treq.client import HTTPClient

from incoming.config import Config, ConfigError
from incoming.backend_api import BackendAPI
from incoming.demo import DemoApp
from incoming.frontend import frontend_resource
from incoming.handover import Handover, RetryPolicy
from incoming.limits import (ConnectionLimits, limit_total_connections, raise_open_file_limit,
                             with_backlog)
from incoming.office import TicketOffice
from incoming.registry.sqlite import SQLiteRegistry
from incoming.storage.filesystem import FileSystemStorage
from incoming.upload_protocol import UploadFactory

JANITOR_INTERVAL = 600.0
log = Logger()


class OfficeService(Service):
    """Starts and stops what the office needs: threads, recovery, an orderly shutdown."""

    def __init__(self, office: TicketOffice, pool: ThreadPool, registry: SQLiteRegistry) -> None:
        self.office = office
        self._pool = pool
        self._registry = registry

    def startService(self) -> None:
        super().startService()
        self._pool.start()
        self.office.recover()

    def stopService(self) -> Any:
        super().stopService()
        done = self.office.shut_down()
        done.addBoth(lambda _: (self._pool.stop(), self._registry.close()))
        return done


class ListeningService(Service):
    """Listens on one endpoint; if it cannot, the server stops at once, saying why in one line."""

    def __init__(self, description: str, endpoint: Any, factory: Any, reactor: Any) -> None:
        self._description = description
        self._endpoint = endpoint
        self._factory = factory
        self._reactor = reactor
        self._port: Any = None

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        listening = self._endpoint.listen(self._factory)
        failures: list[Any] = []
        listening.addCallbacks(self._listening, failures.append)
        if failures:  # the usual case (TCP, TLS): known right away, before the reactor runs
            _tell_operator(_cannot_listen(self._description, failures[0].value))
            raise SystemExit(1)
        listening.addErrback(self._failed_later)

    def _listening(self, port: Any) -> None:
        self._port = port

    def _failed_later(self, failure: Any) -> None:
        _tell_operator(_cannot_listen(self._description, failure.value))
        self._reactor.stop()

    def stopService(self) -> Any:
        super().stopService()
        if self._port is not None:
            return self._port.stopListening()
        return None


def _tell_operator(line: str) -> None:
    """Write to the real stderr: twistd has pointed ``sys.stderr`` into its log by now."""
    stream = sys.__stderr__ or sys.stderr
    stream.write(line + "\n")
    stream.flush()


def _cannot_listen(description: str, error: BaseException) -> str:
    reason = getattr(error, "socketError", None) or error
    return f"incoming: cannot listen on {description}: {reason}"


def make_service(config: Config, reactor: Any) -> MultiService:
    tune_allocator()
    raise_open_file_limit()
    try:
        os.makedirs(config.storage_dir, exist_ok=True)
        registry = SQLiteRegistry(os.path.join(config.storage_dir, "tickets.sqlite3"))
    except (OSError, sqlite3.Error) as e:
        raise ConfigError("storage_dir", f"cannot use {config.storage_dir}: {e}") from None
    pool = ThreadPool(minthreads=1, maxthreads=config.storage_threads, name="incoming-storage")
    storage = FileSystemStorage(config.storage_dir, reactor, pool, config.write_buffer_size)
    # A fresh connection per callback: callbacks are rare, and a pooled connection that
    # the backend closed meanwhile fails the POST (which is not retried at once).
    http = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))
    policy = RetryPolicy(attempt_timeout=config.handover_attempt_timeout,
                         total_timeout=config.handover_timeout,
                         max_delay=config.handover_max_delay)
    office = TicketOffice(config, registry, storage, Handover(http, reactor, policy), reactor)

    top = MultiService()
    OfficeService(office, pool, registry).setServiceParent(top)
    janitor = TimerService(JANITOR_INTERVAL, office.expire_abandoned)
    janitor.clock = reactor
    janitor.setServiceParent(top)
    limits = ConnectionLimits(reactor, config.max_connections_per_address,
                              config.connection_rate_per_address)
    site = Site(site_root(office, config, reactor, http, limits))
    public = limit_total_connections(site, config.max_connections, reactor)
    for description in config.listen:
        try:
            endpoint = serverFromString(reactor, with_backlog(description))
        except Exception as e:  # noqa: BLE001 — bad syntax, or for ssl: an unreadable or
            # invalid key or certificate (OSError, OpenSSL's Error, AttributeError, ...):
            # every one is the operator's to fix, and says so in one line.
            problem = " ".join(str(e).split())  # one line, whatever the exception wrote
            raise ConfigError("listen", f"cannot use {description!r}: {problem}") from None
        ListeningService(description, endpoint, public, reactor).setServiceParent(top)
    return top


def site_root(office: TicketOffice, config: Config, reactor: Any, http: HTTPClient,
              limits: ConnectionLimits | None = None) -> Resource:
    """``/incoming/0.1/{backend,frontend}/…``, and with ``demo`` the demo app at ``/``."""
    version = Resource()
    version.putChild(b"backend", BackendAPI(office))
    version.putChild(b"frontend", frontend_resource(UploadFactory(office, config, reactor, limits)))
    prefix = Resource()
    prefix.putChild(b"0.1", version)
    root = Resource()
    root.putChild(b"incoming", prefix)
    if config.demo:
        demo = DemoApp(http)
        root.putChild(b"demo", demo)
        root.putChild(b"", demo.children[b""])
    return root


def tune_allocator() -> None:
    """Keep freed buffers in the heap instead of returning them to the kernel.

    With glibc's defaults every ~1 MiB buffer of received data is mmap()ed and
    unmapped again, and the next one page-faults its way back in: 35–40 % of
    the server's CPU time per PERF-NOTES.md. A fixed, high mmap threshold and
    a high trim threshold make the heap reuse the same pages.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return  # not glibc: nothing to tune
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 * 2**20)
    mallopt(m_trim_threshold, 64 * 2**20)

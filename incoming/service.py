"""Builds the server: one MultiService holding the web sites, the janitor and the office.

This is the only module that wires parts together; below it nothing imports
the global reactor, reads the wall clock or opens a port.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import grp
import os
import socket
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

import attrs
from twisted.application.internet import TimerService
from twisted.application.service import MultiService, Service
from twisted.internet.endpoints import serverFromString
from twisted.logger import ILogObserver, Logger, jsonFileLogObserver
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import Resource
from twisted.web.server import Request

from incoming.backend_api import BackendAPI
from incoming.config import Config, ConfigError, api_keys, sqlite_path
from incoming.demo import DemoApp, own_base_url
from incoming.errors import ErrorCode
from incoming.frontend import frontend_resource
from incoming.callback_policy import CallbackPolicy, make_callback_client
from incoming.handover import Handover, RetryPolicy
from incoming.ingest import WriteBudget, small_write_for
from incoming.internals import probe, report
from incoming.limits import (
    ConnectionLimits,
    limit_total_connections,
    raise_open_file_limit,
    with_backlog,
)
from incoming.observability import observability
from incoming.office import TicketOffice
from incoming.leases import Leases, SoleLeases, instance_name
from incoming.registry import Registry
from incoming.registry.redis import RedisLeaseStore, RedisRegistry, RedisState
from incoming.registry.sqlite import SQLiteRegistry
from incoming.storage import Storage, s3, sha256state
from incoming.storage.filesystem import FileSystemStorage
from incoming.storage.location import S3Location
from incoming.storage.s3parts import PARTS_AT_ONCE
from incoming.tus import TusFace, is_tus_path
from incoming.upload_protocol import UploadFactory
from incoming.webhooks import signing_keys
from incoming.web import ErrorPage, Folder, IncomingSite, KeyGuard

JANITOR_INTERVAL = 600.0
RECOVERY_INTERVAL = 30.0
"""With shared state, each instance looks for dead instances' handovers and cancel notices
this often at most (every ``lease_time`` if that is shorter): they resume within
``lease_time`` plus this."""
log = Logger()


class OfficeService(Service):
    """Starts and stops what the office needs: threads, recovery, an orderly shutdown."""

    def __init__(self, office: TicketOffice, pool: ThreadPool, registry: Registry) -> None:
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
        done.addBoth(self._release)
        return done

    def _release(self, _: object) -> None:
        self._pool.stop()
        self._registry.close()


class ListeningService(Service):
    """Listens on one endpoint; if it cannot, the server stops at once, saying why in one line.

    twistd calls ``privilegedStartService`` (before it drops privileges, so that
    ports below 1024 work); ``twist`` calls only ``startService``. Either
    listens, once.
    """

    def __init__(self, description: str, endpoint: Any, factory: Any, reactor: Any) -> None:
        self._description = description
        self._endpoint = endpoint
        self._factory = factory
        self._reactor = reactor
        self._listening: Any = None
        self.port: Any = None

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._listen()

    def startService(self) -> None:
        super().startService()
        self._listen()

    def _listen(self) -> None:
        if self._listening is not None:
            return
        self._listening = self._endpoint.listen(self._factory)
        failures: list[Any] = []
        self._listening.addCallbacks(self._listened, failures.append)
        if failures:  # the usual case (TCP, TLS): known right away, before the reactor runs
            _tell_operator(_cannot_listen(self._description, failures[0].value))
            raise SystemExit(1)
        self._listening.addErrback(self._failed_later)

    def _listened(self, port: Any) -> None:
        self.port = port

    def _failed_later(self, failure: Any) -> None:
        _tell_operator(_cannot_listen(self._description, failure.value))
        self._reactor.stop()

    def stopService(self) -> Any:
        super().stopService()
        if self.port is not None:
            return self.port.stopListening()
        return None


def _tell_operator(line: str) -> None:
    """Write to the real stderr: twistd has pointed ``sys.stderr`` into its log by now."""
    stream = sys.__stderr__ or sys.stderr
    stream.write(line + "\n")
    stream.flush()


def _cannot_listen(description: str, error: BaseException) -> str:
    reason = getattr(error, "socketError", None) or error
    return f"incoming: cannot listen on {description}: {reason}"


@attrs.frozen
class Plan:
    """What the configuration asks for, checked in full before anything touches the disk."""

    config: Config
    api_keys: tuple[str, ...]
    signing_keys: tuple[bytes, ...]
    callback_policy: CallbackPolicy
    file_gid: int | None
    public: tuple[tuple[str, Any], ...]
    """(description, endpoint) of each ``listen`` endpoint."""
    backend: tuple[tuple[str, Any], ...]
    """(description, endpoint) of each ``backend_listen`` endpoint."""
    s3_client: Any = None
    """With ``storage = "s3://…"``: the botocore client, credentials found."""


def plan(config: Config, reactor: Any) -> Plan:
    """Check every value that can only be checked against the system; raises ConfigError."""
    return Plan(
        config=config,
        api_keys=api_keys(config),
        signing_keys=signing_keys(config),
        callback_policy=CallbackPolicy.parse(config.callback_allow),
        file_gid=_group_id(config.file_group),
        public=tuple(_endpoint("listen", d, reactor) for d in config.listen),
        backend=tuple(_endpoint("backend_listen", d, reactor) for d in config.backend_listen),
        s3_client=_s3_client(config),
    )


def _group_id(name: str) -> int | None:
    if not name:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError("file_group", f"no group named {name!r}") from None


def _endpoint(option: str, description: str, reactor: Any) -> tuple[str, Any]:
    try:
        return description, serverFromString(reactor, with_backlog(description))
    except Exception as e:  # noqa: BLE001 — bad syntax, or for ssl: an unreadable or
        # invalid key or certificate (OSError, OpenSSL's Error, AttributeError, ...):
        # every one is the operator's to fix, and says so in one line.
        problem = " ".join(str(e).split())  # one line, whatever the exception wrote
        raise ConfigError(option, f"cannot use {description!r}: {problem}") from None


class IncomingService(MultiService):
    """The whole server. With ``log_format = "json"`` it asks twistd for JSON log lines."""

    def __init__(self, config: Config, log_to: Any = None) -> None:
        super().__init__()
        self._config = config
        self._log_to = log_to

    def setServiceParent(self, parent: Any) -> Any:
        # twistd reads an ILogObserver component of the application before it starts logging
        # (the documented way for .tac files); `twist` has its own --log-format instead.
        if self._config.log_format == "json" and hasattr(parent, "setComponent"):
            parent.setComponent(ILogObserver, jsonFileLogObserver(self._log_to or sys.stdout,
                                                                  recordSeparator=""))
        return super().setServiceParent(parent)


def _storage_pool_size(config: Config) -> int:
    """With object storage, each of the ``storage_threads`` uploads at a time also sends
    parts, several at once: threads that wait for the network cost little."""
    return config.storage_threads * (1 + PARTS_AT_ONCE if config.storage else 1)


def _s3_client(config: Config) -> Any:
    if not config.storage:
        return None
    try:
        sha256state.check()
        return s3.make_client(config.s3_endpoint_url, config.s3_region, config.s3_profile,
                              connections=config.storage_threads * PARTS_AT_ONCE)
    except (ValueError, sha256state.HashStateError) as e:
        raise ConfigError("storage", f"cannot use {config.storage}: {e}") from None


def _storage(config: Config, checked: Plan, reactor: Any, pool: ThreadPool) -> Storage:
    """Files in storage_dir, or objects in S3-compatible storage (parts spooled there)."""
    if checked.s3_client is None:
        return FileSystemStorage(config.storage_dir, reactor, pool, config.write_buffer_size,
                                 file_mode=config.file_mode, file_gid=checked.file_gid,
                                 on_device=config.acknowledge == "device")
    log.info("storage: objects in {storage} at {endpoint}, parts spooled in {spool}",
             storage=config.storage, endpoint=checked.s3_client.meta.endpoint_url,
             spool=os.path.join(config.storage_dir, "s3-spool"), event="storage")
    return s3.S3Storage(S3Location.parse(config.storage), config.storage_dir,
                        checked.s3_client, reactor, pool, config.write_buffer_size,
                        config.s3_part_size)


def make_service(config: Config, reactor: Any, log_to: Any = None) -> MultiService:
    checked = plan(config, reactor)
    tune_allocator()
    raise_open_file_limit()
    fast_path = probe(config.fast_receive)
    report(fast_path)
    try:
        os.makedirs(config.storage_dir, exist_ok=True)
    except OSError as e:
        raise ConfigError("storage_dir", f"cannot use {config.storage_dir}: {e}") from None
    registry, leases, shared_state = open_state(config, reactor)
    pool = ThreadPool(minthreads=1, maxthreads=_storage_pool_size(config), name="incoming-storage")
    storage = _storage(config, checked, reactor, pool)
    policy = RetryPolicy(attempt_timeout=config.handover_attempt_timeout,
                         total_timeout=config.handover_timeout,
                         max_delay=config.handover_max_delay)
    limits = ConnectionLimits(reactor, config.max_connections_per_address,
                              config.connection_rate_per_address)
    watch = observability(registry, storage.root, reactor, lambda: limits.open_total)
    handover = Handover(make_callback_client(reactor, checked.callback_policy), reactor, policy,
                        observer=watch.lifecycle, signing_keys=checked.signing_keys)
    office = TicketOffice(config, registry, storage, handover, reactor, watch.lifecycle, leases)

    top = IncomingService(config, log_to)
    if shared_state is not None:  # connected before the office starts, closed by it
        SharedStateService(shared_state).setServiceParent(top)
    OfficeService(office, pool, registry).setServiceParent(top)
    if shared_state is not None:  # stopped before the office stops
        _share_work(top, office, config, reactor)
    watch.service.setServiceParent(top)
    janitor = TimerService(JANITOR_INTERVAL, office.expire_abandoned)
    janitor.clock = reactor
    janitor.setServiceParent(top)

    backend_ports: list[ListeningService] = []
    # One bound for every face's bytes; small writes wait a little to be gathered.
    budget = WriteBudget(config.write_buffer_size, reactor, small_write_for(config.window_size))
    upload_factory = UploadFactory(office, config, reactor, limits, fast_path, budget)
    # One write budget for every face: the tus face shares the WebSocket face's.
    tus = TusFace(office, config, reactor, limits, budget)
    parts = Parts(
        backend_api=KeyGuard(BackendAPI(office, checked.callback_policy), checked.api_keys),
        metrics=KeyGuard(watch.metrics_resource, checked.api_keys),
        health=watch.health_resource,
        frontend=frontend_resource(upload_factory),
        tus=tus.resource(),
        demo=DemoApp(make_callback_client(reactor, CallbackPolicy.parse(())),
                     _backend_url(backend_ports),
                     checked.api_keys[0] if checked.api_keys else "") if config.demo else None,
    )
    public_root, backend_root = site_roots(parts, separate_backend=bool(checked.backend))
    public_site = IncomingSite(public_root, reactor, config.request_timeout, config.idle_timeout,
                               streams=is_tus_path, request_factory=tus.request_factory)
    _listen(top, checked.public,
            limit_total_connections(public_site, config.max_connections, reactor), reactor)
    backend_ports += _listen(top, checked.backend, IncomingSite(
        backend_root, reactor, config.request_timeout, config.idle_timeout), reactor)
    _warn_about_open_doors(checked)
    return top


def open_state(config: Config, reactor: Any) -> tuple[Registry, Leases | SoleLeases,
                                                      RedisState | None]:
    """The registry ``state`` names, with the leases that go with it: a local SQLite file
    (this instance alone), or Redis shared by every instance (then its connection too)."""
    path = sqlite_path(config)
    if path is not None:
        try:
            return SQLiteRegistry(path), SoleLeases(), None
        except (OSError, sqlite3.Error) as e:
            option = "state" if config.state else "storage_dir"
            raise ConfigError(option, f"cannot use {path}: {e}") from None
    try:
        shared = RedisState(config.state, reactor)
    except ValueError as e:
        raise ConfigError("state", f"cannot use {config.state!r}: {e}") from None
    leases = Leases(RedisLeaseStore(shared), reactor,
                    instance_name(socket.gethostname(), os.getpid()), config.lease_time)
    return RedisRegistry(shared), leases, shared


class SharedStateService(Service):
    """Starts the connection to the shared state (Redis) before the office needs it; the
    registry's ``close`` stops it, after the office's last save."""

    def __init__(self, shared: RedisState) -> None:
        self._shared = shared

    def startService(self) -> None:
        super().startService()
        self._shared.start()


def _share_work(top: MultiService, office: TicketOffice, config: Config, reactor: Any) -> None:
    """With shared state: renew this instance's leases, and take on the handovers and
    cancel notices of instances whose leases lapsed (they died)."""
    rounds = min(config.lease_time, RECOVERY_INTERVAL)
    for interval, work in ((config.lease_time / 3, office.leases.renew),
                           (rounds, office.recover)):
        timer = TimerService(interval, work)
        timer.clock = reactor
        timer.setServiceParent(top)


def _listen(top: MultiService, endpoints: tuple[tuple[str, Any], ...], site: Any,
            reactor: Any) -> list[ListeningService]:
    services = [ListeningService(description, endpoint, site, reactor)
                for description, endpoint in endpoints]
    for service in services:
        service.setServiceParent(top)
    return services


def _backend_url(backend_ports: list[ListeningService]) -> Callable[[Request], str]:
    """How the demo reaches the backend API: on the backend listener where there is one."""
    def url(request: Request) -> str:
        for listening in backend_ports:
            if listening.port is not None:
                host = listening.port.getHost()
                address = "127.0.0.1" if host.host in ("0.0.0.0", "::") else host.host
                return f"http://{address}:{host.port}"
        return own_base_url(request)
    return url


def _warn_about_open_doors(checked: Plan) -> None:
    if checked.callback_policy.is_open:
        log.warn("callback_allow is not set: new_upload accepts any http(s) callback URL, so "
                 "whoever may call the backend API can make this server POST into your network "
                 "(docs/security.rst)")
    if not checked.api_keys and not checked.backend:
        log.warn("no backend_api_key and no backend_listen: anyone who reaches this server "
                 "can create upload tickets (docs/security.rst)")


@attrs.frozen
class Parts:
    backend_api: Resource
    metrics: Resource
    health: Resource
    frontend: Resource
    demo: DemoApp | None
    tus: Resource | None = None
    """The tus 1.0 face (``/incoming/0.1/tus/``), on the public listener."""


def site_roots(parts: Parts, separate_backend: bool) -> tuple[Resource, Resource]:
    """The public site (``/incoming/0.1/frontend/``, ``/incoming/0.1/tus/``, the demo) and
    the backend's (``/incoming/0.1/backend/``, ``/metrics``, ``/healthz``); one and the same
    where there is no separate backend listener."""
    public_version, public_root = _api_tree()
    public_version.putChild(b"frontend", parts.frontend)
    if parts.tus is not None:
        public_version.putChild(b"tus", parts.tus)
    if parts.demo is not None:
        public_root.putChild(b"demo", parts.demo)
        public_root.putChild(b"", parts.demo.children[b""])
    if not separate_backend:
        _serve_backend(public_version, public_root, parts)
        return public_root, public_root
    public_version.putChild(b"backend", ErrorPage(
        ErrorCode.NOT_FOUND, "the backend API is served on the backend listener only"))
    backend_version, backend_root = _api_tree()
    _serve_backend(backend_version, backend_root, parts)
    return public_root, backend_root


def _serve_backend(version: Resource, root: Resource, parts: Parts) -> None:
    version.putChild(b"backend", parts.backend_api)
    root.putChild(b"metrics", parts.metrics)
    root.putChild(b"healthz", parts.health)


def _api_tree() -> tuple[Folder, Resource]:
    """``/incoming/0.1/``: the version folder, and the root that leads to it."""
    version = Folder()
    prefix = Folder()
    prefix.putChild(b"0.1", version)
    root = Resource()
    root.putChild(b"incoming", prefix)
    return version, root


def tune_allocator() -> None:
    """Keep freed buffers in the heap instead of returning them to the kernel.

    With glibc's defaults every ~1 MiB buffer of received data is mmap()ed and
    unmapped again, and the next one page-faults its way back in: 35–40 % of
    the server's CPU time (docs/performance.rst). A fixed, high mmap threshold and
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

"""``GET /healthz``: whether this server can take uploads right now.

Healthy means the two things every upload needs answer: the storage
directory takes a write that reaches the disk (a small probe file is created,
written, fsynced and removed), and the ticket registry answers a lookup. A
load balancer or systemd watchdog polls it, so it needs no key, is never
cached, and answers within a few seconds even when the disk hangs: the probe
runs in a thread of its own and is given up on after ``timeout``. While a
probe hangs, later requests wait on that same probe instead of piling up
threads behind it.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from twisted.internet.defer import Deferred, TimeoutError, maybeDeferred
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from incoming.lifecycle import one_line
from incoming.registry import Registry

PROBE_TIMEOUT = 5.0
PROBE_TICKET = "healthz-probe"
"""Looked up in the registry: no ticket has this ID (real IDs are 32 base64 characters)."""
_probe_numbers = itertools.count()


class Unhealthy(Exception):
    """One line saying what is wrong, for the 503 body."""


def probe_storage(directory: str) -> None:
    """In a thread: create, write, fsync and remove a small file in ``directory``."""
    path = os.path.join(directory, f".healthz-{os.getpid()}-{next(_probe_numbers)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"healthz\n")
        os.fsync(fd)
    finally:
        os.close(fd)
        os.remove(path)


class HealthCheck:
    """Runs the two probes; fires with None when healthy, fails with :class:`Unhealthy`."""

    def __init__(self, storage_dir: str, registry: Registry, clock: IReactorTime,
                 threads: IReactorFromThreads, pool: ThreadPool,
                 timeout: float = PROBE_TIMEOUT) -> None:
        """``pool``: a pool of the check's own, so a storage pool busy with uploads never
        delays the probe into a false alarm."""
        self._storage_dir = storage_dir
        self._registry = registry
        self._clock = clock
        self._threads = threads
        self._pool = pool
        self._timeout = timeout
        self._probing: Deferred[None] | None = None
        self._waiting: list[Deferred[None]] = []

    def check(self) -> Deferred[None]:
        asked = maybeDeferred(self._registry.load, PROBE_TICKET)
        asked.addTimeout(self._timeout, self._clock)
        asked.addErrback(_because, "ticket registry not answering")
        return asked.addCallback(lambda _: self._storage_writable())

    def _storage_writable(self) -> Deferred[None]:
        """Fires once a probe (this one, or the one still running) is done."""
        mine: Deferred[None] = Deferred()
        self._waiting.append(mine)
        if self._probing is None:
            self._probing = deferToThreadPool(self._threads, self._pool, probe_storage,
                                              self._storage_dir)
            self._probing.addBoth(self._probed)
        mine.addTimeout(self._timeout, self._clock)
        mine.addBoth(self._stop_waiting, mine)  # a probe may hang for good: keep no waiter
        mine.addErrback(_because, "storage not writable")
        return mine

    def _stop_waiting(self, result: Any, waiter: Deferred[None]) -> Any:
        if waiter in self._waiting:
            self._waiting.remove(waiter)
        return result

    def _probed(self, result: Any) -> None:
        self._probing = None
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if waiter.called:
                continue  # it timed out already
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(None)


def _because(failure: Failure, what: str) -> None:
    if failure.check(Unhealthy):
        failure.raiseException()
    problem = failure.value
    if failure.check(TimeoutError):
        detail = "no answer in time"
    elif isinstance(problem, OSError) and problem.strerror:
        where = f": {problem.filename}" if problem.filename else ""
        detail = f"{problem.strerror}{where}"
    else:
        detail = f"{type(problem).__name__}: {problem}"
    raise Unhealthy(one_line(f"{what}: {detail}"))


class HealthResource(Resource):
    """``GET /healthz``: ``200 ok`` or ``503`` with the reason, plain text, never cached."""

    isLeaf = True

    def __init__(self, check: HealthCheck) -> None:
        super().__init__()
        self._check = check

    def render_GET(self, request: Request) -> Any:
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        checked = self._check.check().addCallbacks(lambda _: (200, "ok"), _as_answer)
        checked.addCallback(lambda answer: None if gone else _answer(request, *answer))
        return NOT_DONE_YET


def _as_answer(failure: Failure) -> tuple[int, str]:
    if failure.check(Unhealthy):
        return 503, str(failure.value)
    return 503, one_line(f"health check failed: {failure.value}")


def _answer(request: Request, code: int, text: str) -> None:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    request.setHeader(b"Cache-Control", b"no-store")
    request.write(text.encode("utf-8") + b"\n")
    request.finish()

"""Sending one upload's parts, several at once, and recording them in its manifest in order.

Object stores answer one connection slowly and many quickly: boto3 sends ten
parts at once. So parts go side by side (:data:`PARTS_AT_ONCE`), each in a
pool thread; the manifest, though, only ever says "parts 1 to n are there"
with the hash state after part n, so parts are recorded in order, one
manifest write at a time (a lane of their own; parts that land during a
write go into the next), and a part's spool file goes only once the
manifest that names it is written. Reactor thread only, but for
the work it sends to threads.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable
from typing import Any

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from incoming.errors import IncomingError
from incoming.storage.filesystem import Lane, storage_error
from incoming.storage.s3calls import Manifest, S3Calls

PARTS_AT_ONCE = 8
"""Parts of one upload being sent at the same time."""


@attrs.frozen
class Sealed:
    """A full part (or the last one) in the spool, ready to send."""

    number: int
    path: str
    size: int
    hash_state: str
    """The SHA-256 state after this part's last byte."""


class PartSender:
    """Sends sealed parts; :attr:`manifest` (set by :meth:`start`) grows as they land."""

    def __init__(self, calls: S3Calls, key: str, reactor: IReactorFromThreads,
                 pool: ThreadPool, at_once: int = PARTS_AT_ONCE) -> None:
        self._calls = calls
        self._key = key
        self._reactor = reactor
        self._pool = pool
        self._at_once = at_once
        self._recorder = Lane(reactor, pool)
        self.manifest: Manifest | None = None
        self.last_etag = ""
        """Of the last, smaller part (the manifest holds full parts only)."""
        self._waiting: collections.deque[Sealed] = collections.deque()
        self._sending: set[int] = set()
        self._landed: dict[int, tuple[str, Sealed]] = {}
        self._unwritten: list[str] = []
        """Spool files of parts recorded in :attr:`manifest` but not yet in the bucket's."""
        self._writing = False
        self._failure: Failure | None = None
        self._watchers: list[tuple[Callable[[], bool], Deferred[None]]] = []

    @property
    def broken(self) -> Failure | None:
        return self._failure or self._recorder.broken

    def start(self, manifest: Manifest) -> None:
        """Begin (again) from ``manifest``; only when idle."""
        self.manifest = manifest
        self.last_etag = ""
        self._waiting.clear()
        self._landed.clear()
        self._unwritten.clear()
        self._failure = None
        self._recorder.reset()

    def send(self, part: Sealed) -> None:
        self._waiting.append(part)
        self._pump()

    def wait_for_room(self, most: int) -> Deferred[None]:
        """Fires once at most ``most`` parts wait for their turn to be sent (or sending
        failed)."""
        return self._watch(lambda: len(self._waiting) <= most)

    def idle(self) -> Deferred[Any]:
        """Fires once every part is sent and recorded (or sending failed)."""
        return self._watch(lambda: not self._sending).addCallback(
            lambda _: self._recorder.idle())

    def after(self, job: Callable[..., Any], *args: Any) -> Deferred[Any]:
        """Run ``job`` in a thread after the manifest writes queued so far."""
        return self._recorder.submit(job, *args)

    # -- on the reactor -------------------------------------------------------------------------

    def _pump(self) -> None:
        assert self.manifest is not None
        while self._waiting and len(self._sending) < self._at_once and self._failure is None:
            part = self._waiting.popleft()
            self._sending.add(part.number)
            sent = deferToThreadPool(self._reactor, self._pool, self._calls.upload_part,
                                     self._key, self.manifest.upload_id, part.number, part.path,
                                     part.size)
            sent.addCallbacks(self._sent, self._failed, callbackArgs=(part,),
                              errbackArgs=(part,))

    def _sent(self, etag: str, part: Sealed) -> None:
        assert self.manifest is not None
        self._sending.discard(part.number)
        if part.size < self.manifest.part_size:
            self.last_etag = etag
        else:
            self._landed[part.number] = (etag, part)
            self._record()
        self._pump()
        self._notify()

    def _record(self) -> None:
        """Parts that now follow on without a gap go into the manifest."""
        assert self.manifest is not None
        while len(self.manifest.etags) + 1 in self._landed:
            etag, part = self._landed.pop(len(self.manifest.etags) + 1)
            self.manifest.etags.append(etag)
            self.manifest.hash_state = part.hash_state
            self._unwritten.append(part.path)
        if self._unwritten and not self._writing:
            self._write_manifest()

    def _write_manifest(self) -> None:
        """One manifest write at a time: parts that land meanwhile go into the next one,
        so a busy store gets fewer writes, never a manifest behind an older one."""
        assert self.manifest is not None
        snapshot = attrs.evolve(self.manifest, etags=list(self.manifest.etags))
        spooled, self._unwritten = self._unwritten, []
        self._writing = True
        written = self._recorder.submit(self._record_in_thread, snapshot, spooled)
        written.addErrback(lambda _: None)  # the lane keeps the failure: see broken
        written.addBoth(self._written)

    def _written(self, _: object) -> None:
        self._writing = False
        if self._unwritten and self._recorder.broken is None:
            self._write_manifest()
        self._notify()

    def _failed(self, failure: Failure, part: Sealed) -> None:
        self._sending.discard(part.number)
        if self._failure is None:
            self._failure = failure if isinstance(failure.value, IncomingError) else Failure(
                storage_error(failure.value))  # type: ignore[arg-type]
        self._waiting.clear()
        self._notify()

    def _watch(self, done: Callable[[], bool]) -> Deferred[None]:
        if done() or self.broken is not None:
            return succeed(None)
        watcher: Deferred[None] = Deferred()
        self._watchers.append((done, watcher))
        return watcher

    def _notify(self) -> None:
        broken = self.broken is not None
        ready = [(done, watcher) for done, watcher in self._watchers if broken or done()]
        for entry in ready:
            self._watchers.remove(entry)
            entry[1].callback(None)

    # -- in the recorder's thread ---------------------------------------------------------------

    def _record_in_thread(self, manifest: Manifest, spooled: list[str]) -> None:
        self._calls.write_manifest(self._key, manifest)
        for path in spooled:
            os.remove(path)

"""Uploads on the local file system.

Layout under the storage directory::

    partial/<ticket id>    bytes as they arrive, in order
    complete/<ticket id>   the whole file, moved here atomically once complete

Files are named by ticket, never by the browser's file name. Writes and
hashing run in a thread pool, each one operation at a time per file (so bytes
land in order) and side by side; ``hashlib`` and ``os.pwrite`` release the
GIL, so neither holds up the reactor. The SHA-256 is computed as bytes arrive;
it is recomputed from the partial file only when the server restarted or a
write failed since the bytes were written, and where another instance wrote
to the file since this one last had it, only over that instance's bytes
(:class:`HashMemo`). How bytes reach the disk (around
the page cache where possible) is ``direct.py``'s business.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

import attrs
from twisted.internet.defer import Deferred, fail, inlineCallbacks, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from incoming.errors import ErrorCode, IncomingError
from incoming.storage.direct import (
    BUFFER_SIZE,
    Buffers,
    FileWriter,
    Landing,
    Piece,
    take_in,
)

_READ_BLOCK = 1 << 20
_Job = tuple[Callable[..., Any], tuple[Any, ...], Deferred[Any]]


@attrs.frozen
class StoredFile:
    path: str
    size: int
    sha256: str


class FileSystemStorage:
    def __init__(self, root: str, reactor: IReactorFromThreads, pool: ThreadPool,
                 buffered_bytes: int = 64 << 20, file_mode: int = 0o640,
                 file_gid: int | None = None, on_device: bool = True) -> None:
        """``on_device``: a write is done (and may be acknowledged) once its bytes are on the
        storage device (``O_DIRECT``), not once the kernel has them (the page cache, its
        write-back started at once and bounded); ``direct.py`` says why and how.
        ``buffered_bytes``: how much memory idle write buffers may keep (the server passes
        ``write_buffer_size``, the most that can be in flight at once). ``file_mode`` and
        ``file_gid``: what a stored file gets, so that a backend running as another user
        can take it (``complete/`` then belongs to that group too, writable by it when the
        mode lets the group write: moving a file out of a folder needs that)."""
        self.root = os.path.abspath(root)
        self._partial_dir = os.path.join(self.root, "partial")
        self._complete_dir = os.path.join(self.root, "complete")
        os.makedirs(self._partial_dir, exist_ok=True)
        os.makedirs(self._complete_dir, exist_ok=True)
        self._file_mode = file_mode
        self._file_gid = file_gid
        self._on_device = on_device
        if file_gid is not None:
            _share_folder(self.root, file_gid, 0o750)
            _share_folder(self._complete_dir, file_gid, 0o2770 if file_mode & 0o020 else 0o2750)
        self._reactor = reactor
        self._pool = pool
        self._buffers = Buffers(keep=buffered_bytes // BUFFER_SIZE)
        self._complete_sync = DirectorySync(self._complete_dir)
        self._hashes = HashMemo()

    def landing(self, offset: int) -> Landing:
        """Where a connection's bytes for file offset ``offset`` onwards may land."""
        return Landing(self._buffers, offset)

    def partial(self, ticket_id: str, size: int | None = None) -> PartialFile:
        """A handle on the ticket's partial file; nothing is opened until it is used (``size``,
        the declared size, does not matter here: the file grows as bytes come)."""
        return PartialFile(
            os.path.join(self._partial_dir, ticket_id),
            os.path.join(self._complete_dir, ticket_id),
            self._complete_sync,
            self._buffers,
            self._reactor,
            self._pool,
            self._file_mode,
            self._file_gid,
            self._on_device,
            self._hashes,
        )

    def partial_size(self, ticket_id: str) -> int:
        """Bytes in the ticket's partial file (0 if there is none)."""
        try:
            return os.stat(os.path.join(self._partial_dir, ticket_id)).st_size
        except FileNotFoundError:
            return 0

    def remove(self, path: str) -> Deferred[None]:
        """Delete a file of ours if it exists (a partial or a complete one)."""
        self._hashes.forget(path)
        return deferToThreadPool(self._reactor, self._pool, _remove_if_there, path)

    def remove_partial(self, ticket_id: str) -> Deferred[None]:
        return self.remove(os.path.join(self._partial_dir, ticket_id))


def _share_folder(path: str, gid: int, mode: int) -> None:
    os.chown(path, -1, gid)
    os.chmod(path, mode)


def _remove_if_there(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


@attrs.frozen
class _Hashed:
    file: tuple[int, int]
    """The file's device and inode."""
    size: int
    sha256: Any


class HashMemo:
    """How far this instance had hashed each partial file when it last closed it, and the
    hash state there.

    Where instances share the storage, an upload may move from one to another
    and back (over the HTTP path, a load balancer may send every request
    elsewhere). An instance that takes a ticket back then hashes only the bytes
    written since it let it go, not the whole file again: a partial file only
    ever grows (each write lands at its end, nothing truncates it), so the bytes
    before a size it had, in the same file (device and inode), are the ones it
    hashed. Used from pool threads, hence the lock; it keeps the latest
    ``limit`` files (a hash state is about 200 bytes).
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._kept: collections.OrderedDict[str, _Hashed] = collections.OrderedDict()

    def keep(self, path: str, fd: int, size: int, sha256: Any) -> None:
        """``sha256`` (a copy) is the hash of the first ``size`` bytes of the open ``fd``."""
        hashed = _Hashed(_identity(fd), size, sha256.copy())
        with self._lock:
            self._kept[path] = hashed
            self._kept.move_to_end(path)
            while len(self._kept) > self._limit:
                self._kept.popitem(last=False)

    def take(self, path: str, fd: int, size: int) -> tuple[Any, int] | None:
        """A hash state of the first bytes of the open ``fd`` (at most ``size``), and how many
        it covers; None if this file was not kept (or was replaced since)."""
        with self._lock:
            hashed = self._kept.get(path)
        if hashed is None or hashed.file != _identity(fd) or hashed.size > size:
            return None
        return hashed.sha256.copy(), hashed.size

    def forget(self, path: str) -> None:
        with self._lock:
            self._kept.pop(path, None)


def _identity(fd: int) -> tuple[int, int]:
    status = os.fstat(fd)
    return status.st_dev, status.st_ino


class Lane:
    """Runs jobs in a thread pool one at a time, in the order they were submitted.

    A lane holds one pool thread while it has work, and that thread goes from
    one job to the next by itself: waiting for the reactor to hand over each
    job would put a wakeup of a busy reactor between every two writes. Results
    reach the reactor through ``callFromThread``, each in its own Deferred.

    After a job fails, every later job fails the same way until :meth:`reset`:
    what follows a failed write must not pretend the bytes before it landed.
    """

    def __init__(self, reactor: IReactorFromThreads, pool: ThreadPool) -> None:
        self._reactor = reactor
        self._pool = pool
        self._lock = threading.Lock()
        self._queue: collections.deque[_Job] = collections.deque()  # guarded by _lock
        self._draining = False  # guarded by _lock: a pool thread runs the queue
        self._failure: Failure | None = None  # guarded by _lock
        self._unanswered = 0  # reactor thread only: submitted, result not yet delivered
        self._idle_waiters: list[Deferred[None]] = []

    @property
    def broken(self) -> Failure | None:
        with self._lock:
            return self._failure

    def submit(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        result: Deferred[Any] = Deferred()
        with self._lock:
            if self._failure is not None:
                return fail(self._failure)
            self._queue.append((fn, args, result))
            start, self._draining = not self._draining, True
        self._unanswered += 1
        if start:
            self._pool.callInThread(self._drain)
        return result

    def idle(self) -> Deferred[None]:
        """Fires once every submitted job has run and its result has been delivered."""
        if not self._unanswered:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._idle_waiters.append(waiter)
        return waiter

    def reset(self) -> None:
        with self._lock:
            self._failure = None

    def _drain(self) -> None:
        """In a pool thread: run queued jobs until there are none."""
        while True:
            with self._lock:
                if not self._queue:
                    self._draining = False
                    return
                fn, args, result = self._queue.popleft()
                failure = self._failure
            if failure is None:
                try:
                    outcome = fn(*args)
                except BaseException:
                    outcome = failure = _as_storage_failure(Failure())
                    with self._lock:
                        self._failure = failure
            else:
                outcome = failure
            self._reactor.callFromThread(self._deliver, outcome, result)

    def _deliver(self, outcome: object, result: Deferred[Any]) -> None:
        self._unanswered -= 1
        if isinstance(outcome, Failure):
            result.errback(outcome)
        else:
            result.callback(outcome)
        if not self._unanswered:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                waiter.callback(None)


class PartialFile:
    """The bytes of one upload so far, appended in order, hashed on the way in.

    A write goes through two lanes, one after the other, so that the next
    write's intake overlaps this one's trip to the disk: the intake lane copies
    the pieces into aligned buffers and feeds the SHA-256 (``direct.take_in``),
    the disk lane opens, writes, completes and closes. Each lane owns its
    attributes (intake: ``_hash``, ``_hashed``; disk: ``_file``, ``_on_disk``);
    ``_hash`` is touched outside the intake lane only while that lane is idle.
    ``offset`` — the bytes safely written, what may be acknowledged — changes
    on the reactor thread only.
    """

    def __init__(self, path: str, complete_path: str, complete_sync: DirectorySync,
                 buffers: Buffers, reactor: IReactorFromThreads, pool: ThreadPool,
                 file_mode: int = 0o640, file_gid: int | None = None,
                 on_device: bool = True, hashes: HashMemo | None = None) -> None:
        self.path = path
        self._on_device = on_device
        self._hashes = hashes or HashMemo()
        self._file_mode = file_mode
        self._file_gid = file_gid
        self._complete_path = complete_path
        self._complete_sync = complete_sync
        self._buffers = buffers
        self._intake = Lane(reactor, pool)
        self._disk = Lane(reactor, pool)
        self._file: FileWriter | None = None
        self._hash: Any = None
        self._on_disk = 0
        self._hashed = 0
        self.offset = 0

    # -- the public operations ----------------------------------------------------------------

    def open(self) -> Deferred[int]:
        """Open (creating if needed) and learn how many bytes are there; fires with the offset.

        After a failure in either lane it starts again from what is on disk, as
        :meth:`reopen` does: a failed intake may have hashed part of its batch.
        """
        def when_idle(_: None) -> Deferred[int]:
            if self._intake.broken is not None or self._disk.broken is not None:
                return self._start_again()
            return self._disk.submit(self._open_in_thread)

        return self.idle().addCallback(when_idle).addCallback(self._advance)

    def write(self, offset: int, pieces: Sequence[bytes | Piece],
              buffers: list[Any] | None = None) -> Deferred[int]:
        """Append ``pieces`` (bytes-like, or a :class:`~incoming.storage.direct.Piece`) at
        ``offset``, the end of what was written or queued before; fires with the new offset
        once written. ``buffers``: where a :class:`~incoming.storage.direct.Landing` put the
        pieces already (they become the storage's to give back).

        The pieces stay in memory until then: whoever waits for this Deferred
        before sending more keeps that memory bounded.
        """
        if buffers is None:
            buffers = self._buffers.take(offset, sum(len(piece) for piece in pieces))
        taken = self._intake.submit(self._take_in_thread, offset, pieces, buffers)
        written = taken.addCallback(lambda views: self._disk.submit(self._write_in_thread,
                                                                    offset, views))

        def done(result: Any) -> Any:
            self._buffers.give_back(buffers)
            return result

        return written.addBoth(done).addCallback(self._advance)

    def complete(self) -> Deferred[StoredFile]:
        """Flush to disk and move the file into place atomically; fires with what was stored."""
        def when_taken_in(_: None) -> Deferred[StoredFile]:
            if self._intake.broken is not None:
                return fail(self._intake.broken)
            return self._disk.submit(self._complete_in_thread)

        return self._intake.idle().addCallback(when_taken_in)

    def close(self) -> Deferred[None]:
        """Close the file descriptor (after queued writes); the bytes and the hash state stay.

        A write reaches the disk lane only once taken in: closing waits for the
        intake, or a write queued before it would open the file again."""
        return self._intake.idle().addCallback(
            lambda _: self._disk.submit(self._close_in_thread))

    def reopen(self) -> Deferred[int]:
        """Forget a failure and start again from what is on disk."""
        return self.idle().addCallback(lambda _: self._start_again()).addCallback(self._advance)

    def _start_again(self) -> Deferred[int]:
        """Both lanes are idle: forget their failures and the hash, reopen and rehash."""
        self._intake.reset()
        self._disk.reset()
        self._hash = None
        return self._disk.submit(self._reopen_in_thread)

    @inlineCallbacks
    def idle(self) -> Any:
        """Fires once every queued operation, in both lanes, has run."""
        yield self._intake.idle()  # first: what it finishes goes on to the disk lane
        yield self._disk.idle()

    def _advance(self, offset: int) -> int:
        self.offset = offset
        return offset

    # -- the work, in pool threads -------------------------------------------------------------

    def _ensure_open(self) -> FileWriter:
        if self._file is None:
            self._file = FileWriter(self.path, direct=self._on_device)
        return self._file

    def _open_in_thread(self) -> int:
        size = os.fstat(self._ensure_open().fd).st_size
        self._on_disk = size
        if self._hash is None or self._hashed != size:
            self._rehash(size)
        return size

    def _reopen_in_thread(self) -> int:
        self._close_in_thread()
        return self._open_in_thread()

    def _rehash(self, size: int) -> None:
        """Hash what is on disk: only after a restart, a failure or another instance's
        writes (from where this instance's hash of the file left off), never per upload."""
        assert self._file is not None
        self._hash, position = (self._hashes.take(self.path, self._file.fd, size)
                                or (hashlib.sha256(), 0))
        while position < size:
            block = os.pread(self._file.fd, min(_READ_BLOCK, size - position), position)
            if not block:
                break
            self._hash.update(block)
            position += len(block)
        self._hashed = position

    def _take_in_thread(self, offset: int, pieces: Sequence[Any],
                        buffers: list[Any]) -> list[memoryview]:
        views = take_in(pieces, buffers, offset, self._hash.update)  # releases the GIL
        self._hashed += sum(len(view) for view in views)
        return views

    def _write_in_thread(self, offset: int, views: list[memoryview]) -> int:
        writer = self._ensure_open()
        if offset != self._on_disk:
            raise IncomingError(ErrorCode.STORAGE_FAILED,
                                f"bytes for offset {offset}, but the file ends at {self._on_disk}")
        self._on_disk = writer.write(views, offset)
        return self._on_disk

    def _complete_in_thread(self) -> StoredFile:
        if self._file is None:
            self._open_in_thread()
        assert self._file is not None
        if self._hashed != self._on_disk:
            raise IncomingError(ErrorCode.STORAGE_FAILED,
                                f"hashed {self._hashed} bytes but wrote {self._on_disk}")
        os.fchmod(self._file.fd, self._file_mode)
        if self._file_gid is not None:
            os.fchown(self._file.fd, -1, self._file_gid)
        os.fdatasync(self._file.fd)
        self._close_in_thread()
        os.rename(self.path, self._complete_path)
        self._hashes.forget(self.path)
        self._complete_sync.sync()
        return StoredFile(self._complete_path, self._on_disk, self._hash.hexdigest())

    def _close_in_thread(self) -> None:
        if self._file is not None:
            if self._hash is not None and self._hashed == self._on_disk:
                self._hashes.keep(self.path, self._file.fd, self._hashed, self._hash)
            self._file.close()
            self._file = None


class DirectorySync:
    """Makes renames into one directory durable, one ``fsync`` for many callers.

    Uploads that complete together each need the directory synced after their
    rename; a thousand slow ones finishing within a second made a thousand
    journal commits. A caller here waits for an ``fsync`` that starts after
    its call (that one covers its rename), running it itself if none is
    running; callers arriving meanwhile share the next one. Pool threads only.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._changed = threading.Condition()
        self._asked = 0  # guarded by _changed: calls so far, numbered
        self._covered = 0  # guarded by _changed: calls up to this one are durable
        self._running = False  # guarded by _changed

    def sync(self) -> None:
        with self._changed:
            self._asked += 1
            mine = self._asked
            while self._running and self._covered < mine:
                self._changed.wait()
            if self._covered >= mine:
                return
            self._running, covers = True, self._asked
        try:
            _fsync_directory(self._path)
        except BaseException:
            with self._changed:  # not covered: a waiter runs the next fsync itself
                self._running = False
                self._changed.notify_all()
            raise
        with self._changed:
            self._running, self._covered = False, covers
            self._changed.notify_all()


def _fsync_directory(path: str) -> None:
    """Make a rename in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _as_storage_failure(failure: Failure) -> Failure:
    if failure.check(IncomingError):
        return failure
    return Failure(storage_error(cast(BaseException, failure.value)))  # a Failure always has one


FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def storage_error(error: BaseException) -> IncomingError:
    """What a client hears of a failed write: the disk is full (error 21: retry, the upload
    completes once there is space), or it failed otherwise (error 12). Both are retryable;
    acknowledged bytes are safe either way."""
    if isinstance(error, OSError) and error.errno in FULL:
        return IncomingError(ErrorCode.STORAGE_FULL, "no space left for the upload; it goes on "
                             "by itself once there is")
    return IncomingError(ErrorCode.STORAGE_FAILED, f"cannot write the upload: {error}")

"""Uploads into S3-compatible object storage, as streaming multipart uploads.

For the ticket's object ``PREFIX<ticket id>`` a multipart upload begins with
the first hello. Bytes arrive in order and are spooled on local disk, one file
per part (``<storage dir>/s3-spool/<ticket id>/<part number>``): hundreds of
uploads times a part of 8 MiB or more would not fit in memory. A part that is
full is sent while the next one fills, then its file goes. After each part the
manifest ``<key>.upload.json`` beside the object records the upload ID, the
part size, the parts' ETags and the SHA-256 state after the last part
(``sha256state.py``), so that any instance, or this one after a restart,
continues the same multipart upload from there. The last part is sent, and
the upload completed, when every byte is in: before ``stored``.

What an acknowledgement means: the bytes are in this instance's spool
(written, not synced: they survive a crash of the process, as bytes in the
page cache do) or in a completed part. A client that comes back to this
instance resumes from its last acknowledged byte; one that reaches another
instance resumes from the last completed part (the other instance cannot see
this one's spool) and sends less than a part again. A part is sent at most
:data:`UNSENT_PARTS` parts behind the spool; past that, writes wait for the
object storage, which is how a slow store slows the client down.

Two lanes per upload (``filesystem.Lane``): the intake copies, hashes and
spools; the sender uploads parts and writes the manifest. Every S3 call runs
in the storage thread pool, never on the reactor.
"""

from __future__ import annotations

import collections
import os
import shutil
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from twisted.internet.defer import Deferred, fail, inlineCallbacks, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from incoming.errors import ErrorCode, IncomingError
from incoming.storage.direct import BUFFER_SIZE, Buffers, Landing, Piece, take_in
from incoming.storage.filesystem import Lane, StoredFile
from incoming.storage.location import S3Location, split_object_url
from incoming.storage.s3calls import MANIFEST_SUFFIX, Manifest, S3Calls
from incoming.storage.sha256state import ResumableSha256

MAX_PARTS = 10_000
"""S3's limit of parts per multipart upload."""
MIN_PART_SIZE = 5 << 20
"""S3's smallest part (but the last)."""
UNSENT_PARTS = 2
"""Full parts that may wait in the spool to be sent before writes wait for the sender."""
_PART_ROUNDING = 1 << 16
_READ_BLOCK = 1 << 20


def part_size(declared_size: int | None, smallest: int) -> int:
    """The part size for a file of ``declared_size`` bytes: ``smallest``, or larger where
    the file would need more than :data:`MAX_PARTS` of them (rounded up to 64 KiB)."""
    needed = -(-(declared_size or 0) // MAX_PARTS)
    size = max(smallest, needed)
    return -(-size // _PART_ROUNDING) * _PART_ROUNDING


def make_client(endpoint_url: str = "", region: str = "", profile: str = "",
                connections: int = 10) -> Any:
    """A botocore S3 client. Credentials, region and endpoint come the way every AWS tool
    takes them (``AWS_*`` environment, ``~/.aws/config`` and ``credentials``, profiles,
    instance roles); the arguments, when given, override them. Raises ValueError when there
    are no credentials or no such profile."""
    import botocore.session
    from botocore.config import Config as BotoConfig
    from botocore.exceptions import BotoCoreError

    try:
        session = botocore.session.Session(profile=profile or None)
        if session.get_credentials() is None:
            raise ValueError("no AWS credentials found (AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY, a profile, or an instance role)")
        return session.create_client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None,
            config=BotoConfig(max_pool_connections=connections, retries={"mode": "standard"}))
    except BotoCoreError as e:
        raise ValueError(str(e)) from None


@attrs.frozen
class Sealed:
    """A full part (or the last one) in the spool, ready to send."""

    number: int
    path: str
    size: int
    hash_state: str
    """The SHA-256 state after this part's last byte."""


class S3Storage:
    """The object storage face of :class:`~incoming.storage.Storage`."""

    def __init__(self, location: S3Location, spool_dir: str, client: Any,
                 reactor: IReactorFromThreads, pool: ThreadPool,
                 buffered_bytes: int = 64 << 20, smallest_part: int = MIN_PART_SIZE) -> None:
        """``spool_dir``: the local storage directory; parts wait in ``s3-spool/`` there."""
        self.location = location
        self.root = os.path.abspath(spool_dir)
        self._spool = os.path.join(self.root, "s3-spool")
        os.makedirs(self._spool, exist_ok=True)
        self._calls = S3Calls(client, location.bucket)
        self._reactor = reactor
        self._pool = pool
        self._buffers = Buffers(keep=buffered_bytes // BUFFER_SIZE)
        self._smallest_part = smallest_part
        self._offsets: dict[str, int] = {}

    def landing(self, offset: int) -> Landing:
        return Landing(self._buffers, offset)

    def partial(self, ticket_id: str, size: int | None = None) -> S3Partial:
        """A handle on the ticket's upload (``size``: declared, for the part size)."""
        return S3Partial(
            self._calls, self.location.key(ticket_id), self.location.url,
            os.path.join(self._spool, ticket_id), part_size(size, self._smallest_part),
            self._buffers, self._reactor, self._pool,
            on_offset=lambda offset: self._offsets.__setitem__(ticket_id, offset))

    def partial_size(self, ticket_id: str) -> int:
        """The bytes this instance last knew of (another instance's are not asked for: this
        answers without waiting)."""
        return self._offsets.get(ticket_id, 0)

    def remove(self, path: str) -> Deferred[None]:
        """Delete a stored object (``s3://BUCKET/KEY``, one of ours)."""
        where = split_object_url(path)
        if where is None or where[0] != self.location.bucket:
            return fail(IncomingError(ErrorCode.STORAGE_FAILED, f"not an object of ours: {path}"))
        return deferToThreadPool(self._reactor, self._pool, self._calls.delete, where[1])

    def remove_partial(self, ticket_id: str) -> Deferred[None]:
        """Abort the ticket's multipart upload, delete its manifest and its spool."""
        self._offsets.pop(ticket_id, None)
        return deferToThreadPool(self._reactor, self._pool, self._remove_partial_in_thread,
                                 ticket_id)

    def _remove_partial_in_thread(self, ticket_id: str) -> None:
        key = self.location.key(ticket_id)
        self._calls.abort_uploads(key)
        self._calls.delete(key + MANIFEST_SUFFIX)
        shutil.rmtree(os.path.join(self._spool, ticket_id), ignore_errors=True)


class S3Partial:
    """One upload's bytes so far: spooled, sent part by part, hashed on the way in.

    The intake lane owns ``_hash``, ``_spooled`` and ``_file``; the sender
    lane owns ``_manifest`` (which :meth:`open` also sets, with both lanes
    idle). ``offset`` and ``_unsent`` change on the reactor thread only.
    """

    def __init__(self, calls: S3Calls, key: str, url: Callable[[str], str], spool: str,
                 part_size: int, buffers: Buffers, reactor: IReactorFromThreads,
                 pool: ThreadPool, on_offset: Callable[[int], None] = lambda _: None) -> None:
        self.path = spool
        self._calls = calls
        self._key = key
        self._url = url
        self._part_size = part_size
        """For a new upload; a manifest's own part size wins."""
        self._buffers = buffers
        self._intake = Lane(reactor, pool)
        self._sender = Lane(reactor, pool)
        self._on_offset = on_offset
        self._manifest: Manifest | None = None
        self._hash: ResumableSha256 | None = None
        self._spooled = 0
        self._file: tuple[int, int] | None = None  # (part number, descriptor)
        self._unsent: collections.deque[_Sending] = collections.deque()
        self._last_etag = ""  # sender lane: of the last, smaller part, sent by complete()
        self.offset = 0

    # -- the public operations ----------------------------------------------------------------

    def open(self) -> Deferred[int]:
        """Find the upload (or begin it) and where it stands; fires with the offset."""
        def when_idle(_: None) -> Deferred[Any]:
            self._intake.reset()
            self._sender.reset()
            return self._intake.submit(self._open_in_thread)

        return self.idle().addCallback(when_idle).addCallback(self._send_all)

    reopen = open
    """Always from what the manifest and the spool say: nothing else is trusted after a
    failure, and another instance may have moved the upload on meanwhile."""

    def write(self, offset: int, pieces: Sequence[bytes | Piece],
              buffers: list[Any] | None = None) -> Deferred[int]:
        """Append ``pieces`` at ``offset``; fires with the new offset once spooled (and once
        at most :data:`UNSENT_PARTS` full parts wait to be sent)."""
        if buffers is None:
            buffers = self._buffers.take(offset, sum(len(piece) for piece in pieces))
        spooled = self._intake.submit(self._spool_in_thread, offset, pieces, buffers)

        def done(result: Any) -> Any:
            self._buffers.give_back(buffers)
            return result

        return spooled.addBoth(done).addCallback(self._send_all).addCallback(self._keep_pace)

    def complete(self) -> Deferred[StoredFile]:
        """Send the last part and complete the upload; fires with the stored object."""
        def sealed(last: tuple[int, list[Sealed]]) -> Deferred[StoredFile]:
            size = self._send_all(last)
            return self._sender.submit(self._complete_in_thread, size)

        return self._intake.idle().addCallback(
            lambda _: self._intake.submit(self._seal_last_in_thread)).addCallback(sealed)

    def close(self) -> Deferred[None]:
        """Close the spool file; parts being sent go on being sent."""
        return self._intake.idle().addCallback(
            lambda _: self._intake.submit(self._close_in_thread))

    @inlineCallbacks
    def idle(self) -> Any:
        """Fires once everything queued has run: the intake first (it may seal parts)."""
        yield self._intake.idle()
        yield self._sender.idle()

    # -- on the reactor -------------------------------------------------------------------------

    def _send_all(self, spooled: tuple[int, list[Sealed]]) -> int:
        """Queue the sealed parts for the sender; returns the offset spooled."""
        offset, sealed = spooled
        for part in sealed:
            self._unsent.append(_Sending(self._sender.submit(self._send_in_thread, part)))
        self.offset = offset
        self._on_offset(offset)
        return offset

    def _keep_pace(self, offset: int) -> Deferred[int]:
        """A write is acknowledged once the sender is at most UNSENT_PARTS parts behind, and
        fails if the sender failed (the next hello starts again from what is safe)."""
        while self._unsent and self._unsent[0].finished:
            self._unsent.popleft()
        if self._sender.broken is not None:
            return fail(self._sender.broken)
        if len(self._unsent) <= UNSENT_PARTS:
            return succeed(offset)
        return self._unsent[0].wait().addCallback(lambda _: self._keep_pace(offset))

    # -- the intake lane ------------------------------------------------------------------------

    def _open_in_thread(self) -> tuple[int, list[Sealed]]:
        """Read the manifest (or begin the upload), then take in what the spool still holds."""
        self._close_in_thread()
        manifest = self._calls.read_manifest(self._key)
        if manifest is not None and manifest.final_sha256:  # completing it failed half-way
            self._manifest, self._spooled = manifest, manifest.final_size
            return self._spooled, []
        if manifest is None or not self._calls.upload_exists(self._key, manifest.upload_id):
            manifest = self._begin_in_thread(manifest is None)
        self._manifest = manifest
        self._hash = ResumableSha256.restore(manifest.hash_state)
        self._spooled = manifest.sent
        sealed = self._take_in_spool(manifest)
        return self._spooled, sealed

    def _begin_in_thread(self, fresh: bool) -> Manifest:
        if fresh:  # a crash between starting an upload and writing its manifest left one
            self._calls.abort_uploads(self._key)
        shutil.rmtree(self.path, ignore_errors=True)
        upload_id = self._calls.create_upload(self._key)
        manifest = Manifest(upload_id, self._part_size, [], ResumableSha256().state())
        self._calls.write_manifest(self._key, manifest)
        return manifest

    def _take_in_spool(self, manifest: Manifest) -> list[Sealed]:
        """Spool files that continue the completed parts are hashed and kept (full ones are
        to be sent); the rest (sent already, or not following on) go."""
        os.makedirs(self.path, exist_ok=True)
        sealed: list[Sealed] = []
        assert self._hash is not None
        for number in sorted(int(name) for name in os.listdir(self.path) if name.isdigit()):
            path = self._spool_path(number)
            if number != self._spooled // manifest.part_size + 1 or (
                    self._spooled % manifest.part_size):
                os.remove(path)
                continue
            size = _hash_file(path, manifest.part_size, self._hash.update)
            self._spooled += size
            if size == manifest.part_size:
                sealed.append(Sealed(number, path, size, self._hash.state()))
        return sealed

    def _spool_in_thread(self, offset: int, pieces: Sequence[Any],
                         buffers: list[Any]) -> tuple[int, list[Sealed]]:
        if self._manifest is None or self._hash is None:
            raise IncomingError(ErrorCode.STORAGE_FAILED, "the upload is not open")
        if offset != self._spooled:
            raise IncomingError(ErrorCode.STORAGE_FAILED,
                                f"bytes for offset {offset}, but the spool ends at "
                                f"{self._spooled}")
        sealed: list[Sealed] = []
        take_in(pieces, buffers, offset, lambda view: self._spool_view(view, sealed))
        return self._spooled, sealed

    def _spool_view(self, view: memoryview, sealed: list[Sealed]) -> None:
        """Hash and spool ``view``, sealing each part it fills."""
        assert self._manifest is not None and self._hash is not None
        size = self._manifest.part_size
        while view:
            number, filled = self._spooled // size + 1, self._spooled % size
            chunk = view[:size - filled]
            self._hash.update(chunk)
            _write_all(self._open_part(number), chunk, filled)
            self._spooled += len(chunk)
            view = view[len(chunk):]
            if self._spooled % size == 0:
                self._close_in_thread()
                sealed.append(Sealed(number, self._spool_path(number), size,
                                     self._hash.state()))

    def _seal_last_in_thread(self) -> tuple[int, list[Sealed]]:
        """Every byte is in: the part being filled, however small, is the last."""
        assert self._manifest is not None
        self._close_in_thread()
        if self._manifest.final_sha256:
            return self._spooled, []  # completed already
        assert self._hash is not None
        filled = self._spooled % self._manifest.part_size
        if not filled:
            return self._spooled, []
        number = self._spooled // self._manifest.part_size + 1
        return self._spooled, [Sealed(number, self._spool_path(number), filled,
                                      self._hash.state())]

    def _open_part(self, number: int) -> int:
        if self._file is None or self._file[0] != number:
            self._close_in_thread()
            os.makedirs(self.path, exist_ok=True)
            self._file = (number, os.open(self._spool_path(number),
                                          os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        return self._file[1]

    def _close_in_thread(self) -> None:
        if self._file is not None:
            os.close(self._file[1])
            self._file = None

    def _spool_path(self, number: int) -> str:
        return os.path.join(self.path, str(number))

    # -- the sender lane ------------------------------------------------------------------------

    def _send_in_thread(self, part: Sealed) -> None:
        manifest = self._manifest
        assert manifest is not None
        if part.number != len(manifest.etags) + 1:
            raise IncomingError(ErrorCode.STORAGE_FAILED,
                                f"part {part.number} is not the next (that is "
                                f"{len(manifest.etags) + 1})")
        etag = self._calls.upload_part(self._key, manifest.upload_id, part.number, part.path,
                                       part.size)
        if part.size == manifest.part_size:  # the last, smaller part only counts once complete
            manifest.etags.append(etag)
            manifest.hash_state = part.hash_state
            self._calls.write_manifest(self._key, manifest)
            os.remove(part.path)
        else:
            self._last_etag = etag

    def _complete_in_thread(self, size: int) -> StoredFile:
        """Record the outcome in the manifest, then complete: a retry after a failure past
        this point (even on another instance) completes with what the manifest says."""
        manifest = self._manifest
        assert manifest is not None
        if not manifest.final_sha256:
            assert self._hash is not None
            etags = manifest.etags + ([self._last_etag] if manifest.sent < size else [])
            final = attrs.evolve(manifest, etags=etags, final_size=size,
                                 final_sha256=self._hash.hexdigest())
            self._calls.write_manifest(self._key, final)
            self._manifest = manifest = final
        if manifest.etags:
            self._calls.complete(self._key, manifest.upload_id, manifest.etags, size)
        else:  # an empty file: S3 completes no upload without parts
            self._calls.put_empty(self._key)
            self._calls.abort_uploads(self._key)
        self._calls.delete(self._key + MANIFEST_SUFFIX)
        shutil.rmtree(self.path, ignore_errors=True)
        return StoredFile(self._url(self._key), size, manifest.final_sha256)


class _Sending:
    """A part on its way: fires its waiters once sent (or failed: the sender lane keeps the
    failure, and later writes hear it)."""

    def __init__(self, sent: Deferred[None]) -> None:
        self.finished = False
        self._waiters: list[Deferred[None]] = []
        sent.addBoth(self._finish)

    def _finish(self, result: object) -> None:
        """A failure is consumed here: ``Lane.broken`` carries it on to the next write."""
        self.finished = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def wait(self) -> Deferred[None]:
        if self.finished:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        return waiter


def _hash_file(path: str, most: int, update: Callable[[bytes], None]) -> int:
    """Hash up to ``most`` bytes of a spool file (cutting off anything past them)."""
    size = 0
    with open(path, "r+b") as f:
        while size < most:
            block = f.read(min(_READ_BLOCK, most - size))
            if not block:
                break
            update(block)
            size += len(block)
        f.truncate(size)
    return size


def _write_all(fd: int, data: memoryview, position: int) -> None:
    while data:
        written = os.pwrite(fd, data, position)
        data, position = data[written:], position + written


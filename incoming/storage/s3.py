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
this one's spool) and sends the rest again. Parts go up to
:data:`~incoming.storage.s3parts.PARTS_AT_ONCE` at a time, and at most
:data:`UNSENT_PARTS` more wait for their turn; past that, writes wait for
the object storage, which is how a slow store slows the client down.

Per upload, the intake lane (``filesystem.Lane``) copies, hashes and spools;
the :class:`~incoming.storage.s3parts.PartSender` sends parts and records
them in the manifest. Every S3 call runs in the storage thread pool, never
on the reactor.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from twisted.internet.defer import Deferred, fail, inlineCallbacks
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from incoming.errors import ErrorCode, IncomingError
from incoming.storage.direct import BUFFER_SIZE, Buffers, Landing, Piece, take_in
from incoming.storage.filesystem import Lane, StoredFile
from incoming.storage.location import S3Location, split_object_url
from incoming.storage.s3calls import MANIFEST_SUFFIX, Manifest, S3Calls
from incoming.storage.s3parts import PartSender, Sealed
from incoming.storage.sha256state import ResumableSha256

MAX_PARTS = 10_000
"""S3's limit of parts per multipart upload."""
MIN_PART_SIZE = 5 << 20
"""S3's smallest part (but the last)."""
UNSENT_PARTS = 2
"""Full parts that may wait for their turn to be sent before writes wait for the sender."""
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

    def landing(self, offset: int) -> Landing:
        return Landing(self._buffers, offset)

    def partial(self, ticket_id: str, size: int | None = None) -> S3Partial:
        """A handle on the ticket's upload (``size``: declared, for the part size)."""
        return S3Partial(
            self._calls, self.location.key(ticket_id), self.location.url,
            os.path.join(self._spool, ticket_id), part_size(size, self._smallest_part),
            self._buffers, self._reactor, self._pool)

    def partial_size(self, ticket_id: str) -> int:
        """0: where an upload stands is in the bucket, and this answers without waiting (the
        office falls back on the count saved when the upload's last client left)."""
        return 0

    def remove(self, path: str) -> Deferred[None]:
        """Delete a stored object (``s3://BUCKET/KEY``, one of ours)."""
        where = split_object_url(path)
        if where is None or where[0] != self.location.bucket:
            return fail(IncomingError(ErrorCode.STORAGE_FAILED, f"not an object of ours: {path}"))
        return deferToThreadPool(self._reactor, self._pool, self._calls.delete, where[1])

    def remove_partial(self, ticket_id: str) -> Deferred[None]:
        """Abort the ticket's multipart upload, delete its manifest and its spool."""
        return deferToThreadPool(self._reactor, self._pool, self._remove_partial_in_thread,
                                 ticket_id)

    def _remove_partial_in_thread(self, ticket_id: str) -> None:
        key = self.location.key(ticket_id)
        self._calls.abort_uploads(key)
        self._calls.delete(key + MANIFEST_SUFFIX)
        shutil.rmtree(os.path.join(self._spool, ticket_id), ignore_errors=True)


class S3Partial:
    """One upload's bytes so far: spooled, sent part by part, hashed on the way in.

    The intake lane owns ``_hash``, ``_spooled`` and ``_file``; :meth:`open`
    (with everything idle) reads the manifest and hands it to the sender.
    ``offset`` changes on the reactor thread only.
    """

    def __init__(self, calls: S3Calls, key: str, url: Callable[[str], str], spool: str,
                 part_size: int, buffers: Buffers, reactor: IReactorFromThreads,
                 pool: ThreadPool) -> None:
        self.path = spool
        self._calls = calls
        self._key = key
        self._url = url
        self._part_size = part_size
        """For a new upload; a manifest's own part size wins."""
        self._buffers = buffers
        self._intake = Lane(reactor, pool)
        self._sender = PartSender(calls, key, reactor, pool)
        self._part_size_now = part_size  # intake lane: the manifest's
        self._hash: ResumableSha256 | None = None
        self._spooled = 0
        self._file: tuple[int, int] | None = None  # (part number, descriptor)
        self.offset = 0

    # -- the public operations ----------------------------------------------------------------

    def open(self) -> Deferred[int]:
        """Find the upload (or begin it) and where it stands; fires with the offset."""
        def when_idle(_: None) -> Deferred[Any]:
            self._intake.reset()
            return self._intake.submit(self._open_in_thread)

        def opened(result: tuple[Manifest, int, list[Sealed]]) -> int:
            manifest, offset, sealed = result
            self._sender.start(manifest)
            return self._send_all((offset, sealed))

        return self.idle().addCallback(when_idle).addCallback(opened)

    reopen = open
    """Always from what the manifest and the spool say: nothing else is trusted after a
    failure, and another instance may have moved the upload on meanwhile."""

    def write(self, offset: int, pieces: Sequence[bytes | Piece],
              buffers: list[Any] | None = None) -> Deferred[int]:
        """Append ``pieces`` at ``offset``; fires with the new offset once spooled (and once
        at most :data:`UNSENT_PARTS` full parts wait for their turn to be sent)."""
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
            return self._sender.idle().addCallback(lambda _: self._finish(size))

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
        """Hand the sealed parts to the sender; returns the offset spooled."""
        offset, sealed = spooled
        for part in sealed:
            self._sender.send(part)
        self.offset = offset
        return offset

    def _keep_pace(self, offset: int) -> Deferred[int]:
        """A write is acknowledged once at most UNSENT_PARTS parts wait for their turn to be
        sent (besides the PARTS_AT_ONCE on their way), and fails
        if sending failed (the next hello starts again from what is safe)."""
        def check(_: None) -> int | Failure:
            return offset if self._sender.broken is None else self._sender.broken

        return self._sender.wait_for_room(UNSENT_PARTS).addCallback(check)

    def _finish(self, size: int) -> Deferred[StoredFile]:
        """Every part is sent: record the outcome in the manifest, then complete."""
        manifest = self._sender.manifest
        assert manifest is not None
        if self._sender.broken is not None:
            return fail(self._sender.broken)
        if not manifest.final_sha256:
            assert self._hash is not None  # the intake is idle
            last = [self._sender.last_etag] if manifest.sent < size else []
            manifest = attrs.evolve(manifest, etags=manifest.etags + last, final_size=size,
                                    final_sha256=self._hash.hexdigest())
        return self._sender.after(self._complete_in_thread, manifest)

    # -- the intake lane ------------------------------------------------------------------------

    def _open_in_thread(self) -> tuple[Manifest, int, list[Sealed]]:
        """Read the manifest (or begin the upload), then take in what the spool still holds."""
        self._close_in_thread()
        manifest = self._calls.read_manifest(self._key)
        if manifest is not None and manifest.final_sha256:  # completing it failed half-way
            self._hash, self._spooled = None, manifest.final_size  # nothing more to send
            return manifest, self._spooled, []
        if manifest is None or not self._calls.upload_exists(self._key, manifest.upload_id):
            manifest = self._begin_in_thread(manifest is None)
        self._part_size_now = manifest.part_size
        self._hash = ResumableSha256.restore(manifest.hash_state)
        self._spooled = manifest.sent
        sealed = self._take_in_spool(manifest)
        return manifest, self._spooled, sealed

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
        if self._hash is None:
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
        assert self._hash is not None
        size = self._part_size_now
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
        self._close_in_thread()
        filled = self._spooled % self._part_size_now
        if self._hash is None or not filled:  # nothing left, or completed already
            return self._spooled, []
        number = self._spooled // self._part_size_now + 1
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

    # -- after the sender -----------------------------------------------------------------------

    def _complete_in_thread(self, manifest: Manifest) -> StoredFile:
        """Record the outcome in the manifest first: a retry after a failure past that point
        (even on another instance) completes with what the manifest says."""
        self._calls.write_manifest(self._key, manifest)
        if manifest.etags:
            self._calls.complete(self._key, manifest.upload_id, manifest.etags,
                                 manifest.final_size)
        else:  # an empty file: S3 completes no upload without parts
            self._calls.put_empty(self._key)
            self._calls.abort_uploads(self._key)
        self._calls.delete(self._key + MANIFEST_SUFFIX)
        shutil.rmtree(self.path, ignore_errors=True)
        return StoredFile(self._url(self._key), manifest.final_size, manifest.final_sha256)


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


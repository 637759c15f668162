"""Taking upload bytes in, and writing them to disk, in one of two ways: around the page
cache with ``O_DIRECT`` where the file system allows it (the default, ``acknowledge =
device``: a write is done, and may be acknowledged, once the bytes reached the
device), or into the page cache with its write-back kept short and bounded
(``acknowledge = kernel``: done once the kernel has the bytes).

Why two: an ``O_DIRECT`` write returns only once the device has its bytes,
and the disk lane writes one batch at a time, so the device sees a queue of
one request and idles between writes; on a day when the disk was slow that
held uploads to 0.7 of a plain buffered writer that syncs once at the end.
Buffered writes cost CPU instead: the copy into the cache, and every new cache
page must first be reclaimed (in a VM, from the host); left alone, the kernel
also starts write-back late, then throttles every writer at once, and a big
upload pushes out what other programs cache. :class:`WriteBack` tames the
second kind: it starts each file's write-back as its bytes arrive, waits for
pages only once they are :data:`WRITE_BACK_WINDOW` behind, and drops them from
the cache then (leaving them cached cost 2.4–2.9 server CPU s/GiB instead of
1.6–2.2). Measured end to end on a busy shared machine (bench/README.rst),
``O_DIRECT`` still won: 1.4–1.5 server CPU s/GiB, and the bounded buffered
mode reached 0.47–0.93 of its MB/s in five rounds out of five, though on the
disk alone (``bench/benchlib/write_modes.py``) the two were about as fast.
Hence ``device`` by default, ``kernel`` for disks that are slow with
``O_DIRECT``.

Where the bytes wait: direct writes need memory aligned like the file
offset. Bytes lie in page-aligned :class:`Buffers`, each at the same position
modulo :data:`ALIGNMENT` as in the file (buffered writes use the same buffers,
which costs them nothing). A connection that can receives them
there straight from its socket (a :class:`Landing`); other bytes are copied
in. :func:`take_in` then hashes each part right after touching it (copying
it, or unmasking a WebSocket payload in place: ``incoming/unmasking.py``),
while it is in the CPU's cache: hashing bytes that had left it cost 0.9 CPU
s/GiB here against 0.56.

How ``O_DIRECT`` writes go: the file is opened twice. The whole blocks of a
write go through the ``O_DIRECT`` descriptor, straight from the buffers; the
unaligned bytes at either end go through the ordinary one, into pages the direct writes never
touch. Where the file system refuses ``O_DIRECT`` (at open or at the first
write), every write is an ordinary buffered one.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import mmap
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

ALIGNMENT = 4096
"""Offsets, lengths and buffer addresses of direct writes are multiples of this: the page
size, and the logical block size of any disk (512 or 4096 bytes)."""
BUFFER_SIZE = 256 << 10
"""One buffer of the pool; a write takes as many as it needs. Small, so that the many
small writes of slow uploads do not each hold a large one."""
_IOV_MAX = 1024


class Piece(Protocol):
    """What a write may be made of besides bytes-like objects: something that knows how to
    copy itself out (and can be cut into parts that can)."""

    def __len__(self) -> int: ...

    def copy_into(self, target: memoryview) -> None: ...

    def cut(self, start: int, end: int) -> Piece: ...


class Buffers:
    """A pool of page-aligned buffers, reused so that their memory stays mapped and warm.

    Used from the reactor thread only: taken when a write is queued, given
    back when it is done. At most ``keep`` free buffers are kept.
    """

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._free: list[mmap.mmap] = []

    def take(self, offset: int, size: int) -> list[mmap.mmap]:
        """Enough buffers for ``size`` bytes that start at file offset ``offset``."""
        count = -(-(offset % ALIGNMENT + size) // BUFFER_SIZE)
        return [self.take_one() for _ in range(count)]

    def take_one(self) -> mmap.mmap:
        return self._free.pop() if self._free else mmap.mmap(-1, BUFFER_SIZE)

    def give_back(self, buffers: list[mmap.mmap]) -> None:
        # One not kept is unmapped once the last view of it is gone (closing it while
        # views remain would fail).
        room = max(self._keep - len(self._free), 0)
        self._free.extend(buffers[:room])


class Landing:
    """Where one connection's bytes land as they arrive: buffers from the pool, laid out as
    :func:`take_in` lays them out, so that taking them in later copies nothing.

    A connection that can read from its socket straight into memory asks for
    :meth:`space`, fills it and says how much :meth:`landed`; one that is handed
    bytes has them :meth:`put`. :meth:`seal` hands over the buffers of what landed
    since the last seal, to go with the write of those bytes; the next bytes
    start in a fresh buffer. Reactor thread only.
    """

    def __init__(self, pool: Buffers, offset: int) -> None:
        self._pool = pool
        self._offset = offset
        self._buffers: list[mmap.mmap] = []
        self._current: memoryview | None = None
        self._position = 0

    def space(self, most: int) -> memoryview:
        """Memory for the next at most ``most`` bytes (less at the end of a buffer)."""
        if self._current is None or self._position == BUFFER_SIZE:
            self._position = self._offset % ALIGNMENT if self._current is None else 0
            self._buffers.append(self._pool.take_one())
            self._current = memoryview(self._buffers[-1])
        return self._current[self._position:self._position + min(most, BUFFER_SIZE
                                                                 - self._position)]

    def landed(self, count: int) -> None:
        self._position += count
        self._offset += count

    def put(self, data: Any) -> list[memoryview]:
        """Copy ``data`` in; returns where it landed (one view per buffer it spans)."""
        source, views = memoryview(data), []
        while source:
            space = self.space(len(source))
            space[:] = source[:len(space)]
            self.landed(len(space))
            views.append(space)
            source = source[len(space):]
        return views

    def seal(self) -> list[mmap.mmap]:
        """The buffers of what landed since the last seal (now the caller's to give back)."""
        buffers, self._buffers, self._current = self._buffers, [], None
        return buffers

    def release(self) -> None:
        """Give back what was never sealed (the connection is gone)."""
        self._pool.give_back(self.seal())


def take_in(pieces: Sequence[Any], buffers: list[mmap.mmap], offset: int,
            taken: Callable[[memoryview], object]) -> list[memoryview]:
    """Copy ``pieces`` (bytes-like or :class:`Piece`) into ``buffers`` as they will lie in
    the file from ``offset``, calling ``taken`` with each part just copied (to hash it while
    it is in the CPU's cache); returns the filled parts of the buffers, in order.

    Pieces that already lie there (a :class:`Landing` put them) are not copied:
    a :class:`Piece` sees that its target is its own memory."""
    views: list[memoryview] = []
    position = offset % ALIGNMENT
    queue = collections.deque(pieces)
    for buffer in buffers:
        view = memoryview(buffer)
        start = position
        while queue and position < BUFFER_SIZE:
            piece = queue.popleft()
            room = BUFFER_SIZE - position
            if len(piece) > room:  # the rest goes to the next buffer
                queue.appendleft(_cut(piece, room, len(piece)))
                piece = _cut(piece, 0, room)
            target = view[position:position + len(piece)]
            _copy(piece, target)
            taken(target)
            position += len(piece)
        views.append(view[start:position])
        position = 0
    return views


def _cut(piece: Any, start: int, end: int) -> Any:
    cut = getattr(piece, "cut", None)
    return cut(start, end) if cut is not None else memoryview(piece)[start:end]


def _copy(piece: Any, target: memoryview) -> None:
    copy_into = getattr(piece, "copy_into", None)
    if copy_into is not None:
        copy_into(target)
    elif memory_address(piece) != memory_address(target):  # not landed there already
        target[:] = piece


def memory_address(data: Any) -> int | None:
    """Where writable memory starts (None for read-only bytes, which are never a target)."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(data))
    except (TypeError, ValueError):  # read-only, or empty
        return None


WRITE_BACK_START = 1 << 20
"""In buffered mode, how many new bytes of a file start their write-back together."""
WRITE_BACK_WINDOW = 32 << 20
"""In buffered mode, how far behind the last write a file's pages may still be dirty or
cached: older ones are waited for and dropped. Deep enough to keep several requests in
the device's queue; small enough that a thousand uploads hold a bounded page cache."""


class FileWriter:
    """One open partial file: ``write`` puts buffers from :func:`take_in` at their offset;
    ``fd`` is there to read and sync.

    ``direct``: whole blocks go around the page cache (``O_DIRECT``), so a write
    returns once its bytes reached the device. Otherwise every write goes into
    the page cache, and a :class:`WriteBack` keeps what it holds of this file
    bounded."""

    def __init__(self, path: str, direct: bool = True) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._direct_fd = _open_direct(path) if direct else None
        self._write_back = None if direct else WriteBack(self.fd)

    @property
    def direct(self) -> bool:
        """Whether whole blocks still bypass the page cache."""
        return self._direct_fd is not None

    def write(self, views: list[memoryview], offset: int) -> int:
        """Write what :func:`take_in` filled for ``offset``; returns the offset after it."""
        views = [view for view in views if len(view)]
        end = offset + sum(len(view) for view in views)
        first_block = -(-offset // ALIGNMENT) * ALIGNMENT
        last_block = end // ALIGNMENT * ALIGNMENT
        if self._direct_fd is None or last_block <= first_block:
            _write_all(self.fd, views, offset)
            if self._write_back is not None:
                self._write_back.written(offset, end)
            return end
        head, views = _split(views, first_block - offset)
        middle, tail = _split(views, last_block - first_block)
        _write_all(self.fd, head, offset)
        written = self._write_direct(middle, first_block)
        if written < last_block - first_block:  # short (disk nearly full) or refused
            _write_all(self.fd, _split(middle, written)[1], first_block + written)
        _write_all(self.fd, tail, last_block)
        return end

    def close(self) -> None:
        if self._direct_fd is not None:
            os.close(self._direct_fd)
            self._direct_fd = None
        os.close(self.fd)

    def _write_direct(self, views: list[memoryview], offset: int) -> int:
        """Whole blocks from aligned memory (each view starts at an aligned file offset and
        at the same position in a page-aligned buffer); returns how much was written."""
        assert self._direct_fd is not None
        written = 0
        try:
            while views:
                count = os.pwritev(self._direct_fd, views[:_IOV_MAX], offset + written)
                if count % ALIGNMENT or not count:
                    return written + count
                written += count
                _, views = _split(views, count)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
            # Opened, but this file system (or device) wants other alignments: stop trying.
            os.close(self._direct_fd)
            self._direct_fd = None
        return written


class WriteBack:
    """Keeps one buffered file's share of the page cache bounded, and its final
    ``fdatasync`` short.

    Left alone, the kernel starts writing dirty pages back only once many are
    dirty (system-wide), and then throttles every writer at once; and written
    pages stay cached though nothing here reads them again. So, per write:
    start the write-back of new pages once :data:`WRITE_BACK_START` of them
    gathered (the small writes of a slow upload would otherwise each become an
    I/O of its own); once pages are more than :data:`WRITE_BACK_WINDOW` behind
    the end, wait for them to be on the device and drop them from the cache.
    The device has the window's worth of requests queued, and the file never
    holds much more than the window in the page cache. Writes are sequential,
    so only where the last one ended matters.
    """

    def __init__(self, fd: int, window: int = WRITE_BACK_WINDOW) -> None:
        self._fd = fd
        self._window = window
        self._started: int | None = None  # write-back was started for pages before this
        self._clean = 0  # pages before this offset are written back and dropped

    def written(self, start: int, end: int) -> None:
        if self._started is None:
            self._started = self._clean = start // ALIGNMENT * ALIGNMENT
        if end - self._started < WRITE_BACK_START:
            return
        if not sync_file_range(self._fd, self._started, end - self._started, start=True):
            return  # no such call here: the final fdatasync does it all
        self._started = end
        behind = (end - self._window) // ALIGNMENT * ALIGNMENT
        if behind > self._clean:
            sync_file_range(self._fd, self._clean, behind - self._clean, wait=True)
            os.posix_fadvise(self._fd, self._clean, behind - self._clean,
                             os.POSIX_FADV_DONTNEED)
            self._clean = behind


def _open_direct(path: str) -> int | None:
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(path, os.O_WRONLY | os.O_CLOEXEC | flag)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        return None


_SYNC_FILE_RANGE_WAIT_BEFORE = 1
_SYNC_FILE_RANGE_WRITE = 2
_SYNC_FILE_RANGE_WAIT_AFTER = 4


def _load_sync_file_range() -> Any:
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (AttributeError, OSError):  # not Linux
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _load_sync_file_range()


def sync_file_range(fd: int, offset: int, count: int, start: bool = False,
                    wait: bool = False) -> bool:
    """Linux's ``sync_file_range``: ``start`` the write-back of a range of the file's dirty
    pages, and/or ``wait`` until the range is written back. Returns False where the system
    has none (the caller then relies on ``fdatasync``). It makes nothing durable: the
    device's cache and the file's metadata are ``fdatasync``'s business."""
    if _sync_file_range is None:
        return False
    flags = (_SYNC_FILE_RANGE_WRITE if start else 0) | (
        _SYNC_FILE_RANGE_WAIT_BEFORE | _SYNC_FILE_RANGE_WRITE | _SYNC_FILE_RANGE_WAIT_AFTER
        if wait else 0)
    if _sync_file_range(fd, offset, count, flags) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return True


def _write_all(fd: int, views: list[memoryview], offset: int) -> None:
    """One system call for the lot, unless the kernel takes less."""
    while views:
        written = os.pwritev(fd, views[:_IOV_MAX], offset)
        offset += written
        _, views = _split(views, written)


def _split(views: list[memoryview], count: int) -> tuple[list[memoryview], list[memoryview]]:
    """The first ``count`` bytes of ``views``, and the rest."""
    first: list[memoryview] = []
    index = 0
    while index < len(views) and count >= len(views[index]):
        count -= len(views[index])
        first.append(views[index])
        index += 1
    rest = views[index:]
    if count and rest:
        first.append(rest[0][:count])
        rest[0] = rest[0][count:]
    return first, rest

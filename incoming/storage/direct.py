"""Taking upload bytes in, and writing them to disk around the page cache (``O_DIRECT``)
where the file system allows it.

Why around the page cache: nothing here reads an upload back, and its backend
may never read it on this machine. Through the page cache every byte is copied
once more, and every new cache page comes from memory the kernel (in a VM, the
host) must first reclaim; a big upload also pushes out what other programs
cache. Measured on the development VM (bench/README.rst): buffered writes cost
0.3 CPU s/GiB at best and 2.6 while the cache grows; direct writes 0.02–0.06.
The bytes are on the device when the write returns, so the final ``fdatasync``
before ``stored`` has only metadata left to do, and a slow disk slows the
upload down instead of filling memory with dirty pages.

Where the bytes wait: direct writes need memory aligned like the file
offset. Bytes lie in page-aligned :class:`Buffers`, each at the same position
modulo :data:`ALIGNMENT` as in the file. A connection that can receives them
there straight from its socket (a :class:`Landing`); other bytes are copied
in. :func:`take_in` then hashes each part right after touching it (copying
it, or unmasking a WebSocket payload in place: ``incoming/unmasking.py``),
while it is in the CPU's cache: hashing bytes that had left it cost 0.9 CPU
s/GiB here against 0.56.

How: the file is opened twice. The whole blocks of a write go through the
``O_DIRECT`` descriptor, straight from the buffers; the unaligned bytes at
either end go through the ordinary one, into pages the direct writes never
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


class FileWriter:
    """One open partial file: ``write`` puts buffers from :func:`take_in` at their offset;
    ``fd`` is there to read and sync."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._direct_fd = _open_direct(path)

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

"""Writing upload bytes to disk around the page cache (``O_DIRECT``) where the file system
allows it.

Why: nothing here reads an upload back, and its backend may never read it on
this machine. Through the page cache every byte is copied once more, and every
new cache page comes from memory the kernel (in a VM, the host) must first
reclaim; a big upload also pushes out what other programs cache. Measured on
the development VM (bench/README.rst): buffered writes cost 0.3 CPU s/GiB at
best and 2.6 while the cache grows; direct writes of whole 4 MiB blocks 0.02–0.06.
The bytes are on the device when the write returns, so the final ``fdatasync``
before ``stored`` has only metadata left to do, and a slow disk slows the
upload down instead of filling memory with dirty pages.

How: the file is opened twice. The whole aligned blocks of each write are
copied into a page-aligned staging buffer (one per thread) and written through
the ``O_DIRECT`` descriptor; the unaligned bytes at either end go through the
ordinary one, landing in pages the direct writes never touch. Where the file
system refuses ``O_DIRECT`` (at open or at the first write), every write is an
ordinary buffered one.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading

ALIGNMENT = 4096
"""Offsets, lengths and buffer addresses of direct writes are multiples of this: the page
size, and the logical block size of any disk (512 or 4096 bytes)."""
STAGING_SIZE = 4 << 20
_IOV_MAX = 1024

_per_thread = threading.local()


class FileWriter:
    """One open partial file: ``write`` appends views at an offset, ``fd`` reads and syncs."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._direct_fd = _open_direct(path)

    @property
    def direct(self) -> bool:
        """Whether whole blocks still bypass the page cache."""
        return self._direct_fd is not None

    def write(self, views: list[memoryview], offset: int) -> int:
        """Write ``views`` one after another from ``offset``; returns the offset after them."""
        end = offset + sum(len(view) for view in views)
        first_block = -(-offset // ALIGNMENT) * ALIGNMENT
        last_block = end // ALIGNMENT * ALIGNMENT
        if self._direct_fd is None or last_block <= first_block:
            _write_all(self.fd, views, offset)
            return end
        head, views = _split(views, first_block - offset)
        middle, tail = _split(views, last_block - first_block)
        _write_all(self.fd, head, offset)
        self._write_blocks(middle, first_block)
        _write_all(self.fd, tail, last_block)
        return end

    def close(self) -> None:
        if self._direct_fd is not None:
            os.close(self._direct_fd)
            self._direct_fd = None
        os.close(self.fd)

    def _write_blocks(self, views: list[memoryview], offset: int) -> None:
        staging = _staging_buffer()
        while views:
            chunk, views = _split(views, len(staging))
            size = _gather(chunk, staging)
            written = self._write_direct(staging[:size], offset)
            if written < size:  # short (disk nearly full) or refused: the rest, buffered
                _write_all(self.fd, [staging[written:size]], offset + written)
            offset += size

    def _write_direct(self, block: memoryview, offset: int) -> int:
        assert self._direct_fd is not None
        try:
            return os.pwrite(self._direct_fd, block, offset)
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
            # Opened, but this file system (or device) wants other alignments: stop trying.
            os.close(self._direct_fd)
            self._direct_fd = None
            return 0


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


def _staging_buffer() -> memoryview:
    """This thread's page-aligned buffer; pool threads run one job each at a time."""
    staging = getattr(_per_thread, "staging", None)
    if staging is None:
        staging = _per_thread.staging = memoryview(mmap.mmap(-1, STAGING_SIZE))
    return staging


def _gather(views: list[memoryview], into: memoryview) -> int:
    position = 0
    for view in views:
        into[position:position + len(view)] = view
        position += len(view)
    return position


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

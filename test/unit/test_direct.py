"""Taking bytes into aligned buffers (hashing and unmasking on the way) and writing them
around the page cache: whole blocks through O_DIRECT, the ragged ends buffered, and plain
buffered writes wherever the file system refuses O_DIRECT."""

from __future__ import annotations

import ctypes
import errno
import os

from incoming.storage.direct import (
    ALIGNMENT,
    BUFFER_SIZE,
    Buffers,
    FileWriter,
    WRITE_BACK_START,
    Landing,
    WriteBack,
    take_in,
)
from incoming.storage import direct
from incoming.unmasking import MaskedBytes, turned
from test.support.wsclient import mask as xor_mask

RAGGED = [1, ALIGNMENT - 1, 3 * ALIGNMENT + 5, 17, 2 * ALIGNMENT, 1000, BUFFER_SIZE + 3]


def address(view: memoryview) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def take(pieces, offset):
    """take_in with fresh buffers; returns the views and what ``taken`` was called with."""
    return take_with(pieces, offset, Buffers(keep=0).take(offset, sum(map(len, pieces))))


def take_with(pieces, offset, buffers):
    parts: list[bytes] = []
    views = take_in(pieces, buffers, offset, lambda v: parts.append(bytes(v)))
    return views, parts


def test_bytes_lie_in_the_buffers_as_in_the_file():
    """Each byte sits at its file offset's position modulo ALIGNMENT, buffers meet at aligned
    file offsets, and ``taken`` sees every byte once, in order."""
    data = os.urandom(sum(RAGGED))
    pieces, position = [], 0
    for size in RAGGED:
        pieces.append(data[position:position + size])
        position += size
    offset = 5000
    views, parts = take(pieces, offset)
    assert b"".join(bytes(v) for v in views) == data == b"".join(parts)
    file_offset = offset
    for view in views:
        assert address(view) % ALIGNMENT == file_offset % ALIGNMENT
        file_offset += len(view)
        if view is not views[-1]:
            assert file_offset % ALIGNMENT == 0


def test_masked_pieces_are_unmasked_on_the_way_in():
    """A masked payload cut across buffers comes out as the original bytes."""
    key, data = b"\x01\x02\x03\x04", os.urandom(BUFFER_SIZE + 12_345)
    piece = MaskedBytes(xor_mask(data, key), key)
    views, parts = take([piece.cut(0, 7), piece.cut(7, len(piece))], 4093)
    assert b"".join(bytes(v) for v in views) == data == b"".join(parts)


def test_the_pool_reuses_buffers_and_keeps_no_more_than_asked():
    buffers = Buffers(keep=2)
    taken = buffers.take(ALIGNMENT - 1, BUFFER_SIZE)  # one byte spills into a second buffer
    assert len(taken) == 2
    buffers.give_back(taken + buffers.take(0, 1))
    again = buffers.take(0, 2 * BUFFER_SIZE)
    assert set(map(id, again)) == set(map(id, taken))


class Calls:
    """Records the pwritev calls made through the direct and through the buffered fd."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[tuple[int, int, int]] = []
        real_pwritev = os.pwritev

        def pwritev(fd, views, offset):
            self.calls.append((fd, offset, sum(len(v) for v in views)))
            return real_pwritev(fd, views, offset)

        monkeypatch.setattr(os, "pwritev", pwritev)

    def through(self, fd):
        return [(offset, size) for called_fd, offset, size in self.calls if called_fd == fd]


def write_ragged(writer: FileWriter, data: bytes) -> None:
    """Write ``data`` as successive writes of RAGGED sizes, each taken in first."""
    offset = 0
    for size in RAGGED:
        views, _ = take([data[offset:offset + size]], offset)
        assert writer.write(views, offset) == offset + size
        offset += size


def test_whole_blocks_go_direct_and_ragged_ends_buffered(tmp_path, monkeypatch):
    data = os.urandom(sum(RAGGED))
    calls = Calls(monkeypatch)
    writer = FileWriter(str(tmp_path / "f"))
    assert writer.direct
    direct_fd = writer._direct_fd
    write_ragged(writer, data)
    writer.close()
    assert (tmp_path / "f").read_bytes() == data
    direct, buffered = calls.through(direct_fd), calls.through(writer.fd)
    assert direct, "no whole block went around the page cache"
    assert all(offset % ALIGNMENT == 0 and size % ALIGNMENT == 0 for offset, size in direct)
    assert all(size < 2 * ALIGNMENT for _, size in buffered)
    written = sorted(direct + buffered)
    assert [start + size for start, size in written[:-1]] == [start for start, _ in written[1:]]


def test_buffered_when_the_file_system_refuses_o_direct_at_open(tmp_path, monkeypatch):
    real_open = os.open

    def open_without_direct(path, flags, *mode):
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *mode)

    monkeypatch.setattr(os, "open", open_without_direct)
    data = os.urandom(sum(RAGGED))
    writer = FileWriter(str(tmp_path / "f"))
    assert not writer.direct
    write_ragged(writer, data)
    writer.close()
    assert (tmp_path / "f").read_bytes() == data


def test_buffered_from_the_first_direct_write_refused(tmp_path, monkeypatch):
    """A file system that opens with O_DIRECT but refuses the write loses no byte."""
    writer = FileWriter(str(tmp_path / "f"))
    direct_fd, real_pwritev, refused = writer._direct_fd, os.pwritev, []

    def pwritev(fd, views, offset):
        if fd == direct_fd:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwritev(fd, views, offset)

    monkeypatch.setattr(os, "pwritev", pwritev)
    data = os.urandom(sum(RAGGED))
    write_ragged(writer, data)
    writer.close()
    assert len(refused) == 1 and not writer.direct
    assert (tmp_path / "f").read_bytes() == data


def test_a_short_direct_write_is_finished_buffered(tmp_path, monkeypatch):
    """A direct write that takes less than asked (a disk nearly full) loses no byte."""
    writer = FileWriter(str(tmp_path / "f"))
    direct_fd, real_pwritev = writer._direct_fd, os.pwritev

    def pwritev(fd, views, offset):
        if fd == direct_fd:  # take 100 bytes, as a full disk might, through the other fd
            return real_pwritev(writer.fd, [bytes(views[0][:100])], offset)
        return real_pwritev(fd, views, offset)

    monkeypatch.setattr(os, "pwritev", pwritev)
    data = os.urandom(sum(RAGGED))
    write_ragged(writer, data)
    writer.close()
    assert (tmp_path / "f").read_bytes() == data


def test_buffers_beyond_what_the_pool_keeps_may_still_be_viewed():
    """Giving back more than the pool keeps, while views of them live, is no error."""
    buffers = Buffers(keep=0)
    taken = buffers.take(0, 10)
    views = take_in([b"0123456789"], taken, 0, lambda view: None)
    buffers.give_back(taken)
    assert bytes(views[0]) == b"0123456789"


def test_bytes_landed_as_they_arrive_are_taken_in_where_they_lie():
    """A landing lays bytes out as take_in would: taking them in unmasks them in place and
    copies nothing; after a seal, the next bytes start in a fresh buffer."""
    key, data = b"\x05\x06\x07\x08", os.urandom(BUFFER_SIZE + 5000)
    masked = xor_mask(data, key)
    landing = Landing(Buffers(keep=8), 5000)
    space = landing.space(1000)  # as if read from a socket straight in
    space[:] = masked[:1000]
    landing.landed(1000)
    pieces = [MaskedBytes(space, key)]
    pieces += MaskedBytes(masked[1000:], turned(key, 1000)).moved_to(landing.put(masked[1000:]))
    addresses = [address(piece.data) for piece in pieces]
    buffers = landing.seal()
    views, parts = take_with(pieces, 5000, buffers)
    assert b"".join(bytes(v) for v in views) == data == b"".join(parts)
    assert len(pieces) == 3 and len(views) == 2  # the put spanned the end of a buffer
    assert [address(v) for v in views] == [addresses[0], addresses[2]]
    later = landing.space(10)
    assert address(later) % ALIGNMENT == (5000 + len(data)) % ALIGNMENT
    assert all(later.obj is not buffer for buffer in buffers)


def test_buffered_writes_start_their_write_back_and_drop_what_is_a_window_behind(
        tmp_path, monkeypatch):
    """Without O_DIRECT every byte goes through the page cache: each MiB's write-back is
    started as it arrives, and pages more than the window behind the end are waited for
    and dropped from the cache, so one upload never holds much more than the window."""
    started, waited, dropped, ends_behind = [], [], [], []
    real_sync = direct._sync_file_range

    def sync_file_range(fd, offset, count, flags):
        if flags & 4:  # waits: how far behind the write-back started last was its end
            waited.append((offset, offset + count))
            ends_behind.append(started[-1][1] - (offset + count))
        else:
            started.append((offset, offset + count))
        return real_sync(fd, offset, count, flags)

    monkeypatch.setattr(direct, "_sync_file_range", sync_file_range)
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, offset, count, advice: dropped.append(
        (offset, offset + count, advice)))
    window, step, data = 4 * WRITE_BACK_START, WRITE_BACK_START // 2 + 7, os.urandom(12 << 20)
    writer = FileWriter(str(tmp_path / "f"), direct=False)
    writer._write_back = WriteBack(writer.fd, window)
    assert not writer.direct
    for offset in range(0, len(data), step):
        views, _ = take([data[offset:offset + step]], offset)
        writer.write(views, offset)
    writer.close()
    assert (tmp_path / "f").read_bytes() == data
    assert started[0][0] == 0 and all(b - a >= WRITE_BACK_START for a, b in started)
    assert [a for a, _ in started[1:]] == [b for _, b in started[:-1]]  # every byte, once
    assert waited == [(a, b) for a, b, _ in dropped]
    assert {advice for _, _, advice in dropped} == {os.POSIX_FADV_DONTNEED}
    assert waited[0][0] == 0 and [a for a, _ in waited[1:]] == [b for _, b in waited[:-1]]
    assert len(data) - window - 2 * WRITE_BACK_START < waited[-1][1] <= len(data) - window
    assert all(window <= behind < window + ALIGNMENT for behind in ends_behind)

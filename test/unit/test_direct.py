"""Writes around the page cache: whole blocks through O_DIRECT, the ragged ends buffered,
and plain buffered writes wherever the file system refuses O_DIRECT."""

from __future__ import annotations

import errno
import os

from incoming.storage.direct import ALIGNMENT, STAGING_SIZE, FileWriter

RAGGED = [1, ALIGNMENT - 1, 3 * ALIGNMENT + 5, 17, 2 * ALIGNMENT, 1000]


def data(size: int) -> bytes:
    return os.urandom(size)


def write_in_pieces(writer: FileWriter, content: bytes, sizes: list[int]) -> None:
    offset = 0
    for size in sizes:
        views = [memoryview(content[offset:offset + size // 2]),
                 memoryview(content[offset + size // 2:offset + size])]
        assert writer.write([v for v in views if len(v)], offset) == offset + size
        offset += size


class Calls:
    """Records the direct (pwrite) and buffered (pwritev) system calls, then makes them."""

    def __init__(self, monkeypatch) -> None:
        self.direct: list[tuple[int, int]] = []
        self.buffered: list[tuple[int, int]] = []
        real_pwrite, real_pwritev = os.pwrite, os.pwritev

        def pwrite(fd, block, offset):
            self.direct.append((offset, len(block)))
            return real_pwrite(fd, block, offset)

        def pwritev(fd, views, offset):
            self.buffered.append((offset, sum(len(v) for v in views)))
            return real_pwritev(fd, views, offset)

        monkeypatch.setattr(os, "pwrite", pwrite)
        monkeypatch.setattr(os, "pwritev", pwritev)


def test_whole_blocks_go_direct_and_ragged_ends_buffered(tmp_path, monkeypatch):
    """Every direct write is aligned in offset and length; buffered ones never cover a whole
    block; the file holds exactly the bytes, in order."""
    content = data(sum(RAGGED))
    calls = Calls(monkeypatch)
    writer = FileWriter(str(tmp_path / "f"))
    assert writer.direct
    write_in_pieces(writer, content, RAGGED)
    writer.close()
    assert (tmp_path / "f").read_bytes() == content
    assert calls.direct, "no whole block went around the page cache"
    assert all(offset % ALIGNMENT == 0 and size % ALIGNMENT == 0 for offset, size in calls.direct)
    assert all(size < 2 * ALIGNMENT for _, size in calls.buffered)
    written = sorted(calls.direct + calls.buffered)
    assert [start + size for start, size in written[:-1]] == [start for start, _ in written[1:]]


def test_a_write_larger_than_the_staging_buffer(tmp_path):
    content = data(2 * STAGING_SIZE + ALIGNMENT + 7)
    writer = FileWriter(str(tmp_path / "f"))
    write_in_pieces(writer, content, [3, len(content) - 3])
    writer.close()
    assert (tmp_path / "f").read_bytes() == content


def test_buffered_when_the_file_system_refuses_o_direct_at_open(tmp_path, monkeypatch):
    real_open = os.open

    def open_without_direct(path, flags, *mode):
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *mode)

    monkeypatch.setattr(os, "open", open_without_direct)
    calls = Calls(monkeypatch)
    content = data(sum(RAGGED))
    writer = FileWriter(str(tmp_path / "f"))
    assert not writer.direct
    write_in_pieces(writer, content, RAGGED)
    writer.close()
    assert calls.direct == []
    assert (tmp_path / "f").read_bytes() == content


def test_buffered_from_the_first_direct_write_refused(tmp_path, monkeypatch):
    """A file system that opens with O_DIRECT but refuses the write loses no byte."""
    calls = Calls(monkeypatch)

    def refuse(fd, block, offset):
        calls.direct.append((offset, len(block)))
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "pwrite", refuse)
    content = data(sum(RAGGED))
    writer = FileWriter(str(tmp_path / "f"))
    write_in_pieces(writer, content, RAGGED)
    writer.close()
    assert len(calls.direct) == 1 and not writer.direct
    assert (tmp_path / "f").read_bytes() == content

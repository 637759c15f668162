"""The upload's binary messages, masked and laid out in a file before the timed part.

A browser masks every frame it sends; so does our client, with a fresh random key per frame.
Doing that while timing would make a Python client the bottleneck, so the whole frame stream
(header + masked payload, one frame per ``chunk_size`` bytes of the file) is written once into
``var/frames-<size>-<chunk>.bin``. During the timed part the client only ``sendfile``s ranges
of it, which costs about what the raw ceiling's sender costs.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from pathlib import Path

from . import wsproto
from .data import VAR_DIR, format_size


@dataclass(frozen=True)
class FrameStream:
    """Where each frame ends, in the stream file and in the upload's bytes."""

    path: Path
    size: int
    chunk_size: int
    stream_ends: list[int]  # offset in the stream file just past frame i
    payload_ends: list[int]  # offset in the uploaded file just past frame i's bytes

    def frames_allowed(self, acked: int, window: int) -> int:
        """How many frames may have been sent when ``acked`` bytes are acknowledged.

        The protocol allows ``sent - acked <= window``.
        """
        return bisect.bisect_right(self.payload_ends, acked + window)

    def stream_end_of(self, frame_count: int) -> int:
        return self.stream_ends[frame_count - 1] if frame_count else 0

    def frame_starting_at(self, offset: int) -> int:
        """The index of the frame whose bytes start at file ``offset`` (for a resume)."""
        if offset == 0:
            return 0
        index = bisect.bisect_left(self.payload_ends, offset)
        if index >= len(self.payload_ends) or self.payload_ends[index] != offset:
            raise ValueError(f"resume offset {offset} is not on a frame boundary")
        return index + 1


def _layout(size: int, chunk_size: int) -> tuple[list[int], list[int]]:
    stream_ends, payload_ends = [], []
    stream_pos = payload_pos = 0
    while payload_pos < size:
        length = min(chunk_size, size - payload_pos)
        stream_pos += wsproto.header_length(length, masked=True) + length
        payload_pos += length
        stream_ends.append(stream_pos)
        payload_ends.append(payload_pos)
    return stream_ends, payload_ends


def frame_stream(data_path: Path, chunk_size: int) -> FrameStream:
    """The frame stream of ``data_path`` cut at ``chunk_size``, written once and then reused."""
    size = data_path.stat().st_size
    path = VAR_DIR / f"frames-{format_size(size)}-{format_size(chunk_size)}.bin"
    stream_ends, payload_ends = _layout(size, chunk_size)
    expected = stream_ends[-1] if stream_ends else 0
    fresh = path.exists() and path.stat().st_mtime >= data_path.stat().st_mtime
    if not (fresh and path.stat().st_size == expected):
        _write_stream(data_path, path, chunk_size)
    return FrameStream(path, size, chunk_size, stream_ends, payload_ends)


def _write_stream(data_path: Path, path: Path, chunk_size: int) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with open(data_path, "rb") as src, open(tmp, "wb") as dst:
        while payload := src.read(chunk_size):
            mask_key = os.urandom(4)
            dst.write(wsproto.header(wsproto.OP_BINARY, len(payload), mask_key))
            dst.write(wsproto.xor_mask(payload, mask_key))
        dst.flush()
        os.fsync(dst.fileno())  # no write-back of it during a timed run
    tmp.replace(path)

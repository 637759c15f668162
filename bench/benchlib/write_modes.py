"""How fast this machine's disk takes one upload's bytes, written each way the server can.

    python3 bench/benchlib/write_modes.py [--size 1GiB] [--block 4MiB] [--repeat 3] [--dir DIR]

Writes ``--size`` bytes in ``--block`` writes, one at a time as the server's disk lane
does, and times it up to the end of the ``fdatasync`` (and reports the time spent in
the writes alone), for:

``direct``     ``O_DIRECT`` (acknowledged = on the device): each write waits for the device
``buffered``   plain writes into the page cache, ``fdatasync`` once at the end (raw-sync)
``bounded``    plain writes, each block's write-back started at once (``sync_file_range``
               WRITE) and waited for once ``--window`` behind the end, then dropped
               from the cache (``POSIX_FADV_DONTNEED``): the server's buffered mode
               (``incoming/storage/direct.py``'s WriteBack)

Peak dirty+cached pages of the file are not measured here; ``Dirty:`` in /proc/meminfo
is printed before the final sync as a hint of how much the page cache held back.
"""

from __future__ import annotations

import argparse
import mmap
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib.data import parse_size  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
from incoming.storage.direct import WriteBack  # noqa: E402


def dirty_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Dirty:"):
            return int(line.split()[1])
    return -1


def run(mode: str, path: Path, size: int, block: int, window: int) -> tuple[float, float, int]:
    buf = mmap.mmap(-1, block)
    buf.write(os.urandom(block))
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if mode == "direct" else 0)
    fd = os.open(path, flags, 0o600)
    started = time.perf_counter()
    offset = 0
    write_back = WriteBack(fd, window) if mode == "bounded" else None
    while offset < size:
        os.pwrite(fd, buf, offset)
        if write_back is not None:
            write_back.written(offset, offset + block)
        offset += block
    written = time.perf_counter() - started
    dirty = dirty_kib()
    os.fdatasync(fd)
    total = time.perf_counter() - started
    os.close(fd)
    path.unlink()
    return written, total, dirty


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=parse_size, default=1 << 30)
    p.add_argument("--block", type=parse_size, default=4 << 20)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent.parent / "var")
    p.add_argument("--window", type=parse_size, default=32 << 20,
                   help="bounded: how far behind the end pages may stay cached")
    p.add_argument("--modes", default="direct,buffered,bounded")
    args = p.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"write-modes-{os.getpid()}.bin"
    for round_no in range(args.repeat):
        for mode in args.modes.split(","):
            written, total, dirty = run(mode, path, args.size, args.block, args.window)
            print(f"round {round_no + 1} {mode:<9} {args.size / total / 1e6:7.0f} MB/s  "
                  f"writes {written:6.2f} s  total {total:6.2f} s  Dirty before sync "
                  f"{dirty // 1024} MiB", flush=True)


if __name__ == "__main__":
    main()

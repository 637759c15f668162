"""A small real file system to fill up: a tmpfs the test mounts (tests run as root).

:func:`mounted_tmpfs` mounts one and unmounts it at the end, whatever happened
(lazily if something still holds it); where mounting is impossible it fails
the test with the reason: a disk-full test that quietly skips tests nothing.
:func:`fill` writes a filler file until the file system is full (or until a
given amount is left).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str = "8m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``where`` (created); yields ``where``; unmounts at the end."""
    where.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                               str(where)], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"cannot mount a tmpfs at {where} for the disk-full tests: {e} "
                    f"(they need root, or CAP_SYS_ADMIN, and mount(8))", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs at {where} for the disk-full tests (they run as "
                    f"root, or with CAP_SYS_ADMIN): mount said {done.stderr.strip()!r} "
                    f"(uid {os.getuid()})", pytrace=False)
    try:
        yield where
    finally:
        gone = subprocess.run(["umount", str(where)], capture_output=True, text=True, timeout=10)
        if gone.returncode != 0:  # still busy (a server that did not exit): detach it anyway
            subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=10)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def fill(path: Path, leave: int = 0, block: int = 1 << 20) -> int:
    """Write ``path`` until at most ``leave`` bytes are free (0: until nothing more fits,
    down to the last byte); the bytes written."""
    written = 0
    piece = b"\xff" * block
    with open(path, "ab", buffering=0) as f:
        size = block
        while size >= 1:
            if leave:
                room = free_bytes(path.parent) - leave
                if room <= 0:
                    break
                size = min(size, room)
            try:
                written += f.write(piece[:size])
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                size //= 2
        os.fsync(f.fileno())
    return written

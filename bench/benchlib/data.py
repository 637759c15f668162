"""The test data: random files generated once into the scratch dir, plus the warm-up.

Every case of one run sends the same bytes: ``data-<size>.bin`` files are prefixes of one
random master file, so that the raw socket, Incoming!! and tus all see identical data.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BENCH_DIR / "var"  # git-ignored scratch space (bench/.gitignore)

# Stores of one invocation: two benchmarks run at once (by two people) must not wipe each
# other's server directories. Removed when the invocation ends.
RUN_DIR = VAR_DIR / f"run-{os.getpid()}"

MiB = 1 << 20
GiB = 1 << 30

_GENERATE_STEP = 16 * MiB


def server_revision() -> str:
    """The commit of the server under test, ``+`` if its code has uncommitted changes.

    The server is written while it is measured: a figure means little without this.
    Read-only git commands only.
    """
    import subprocess

    main = BENCH_DIR.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(main), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(main),
                "status",
                "--porcelain",
                "--",
                "incoming",
                "twisted",
                "jslib/src",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "no commit") + ("+" if dirty else "")


def parse_size(text: str) -> int:
    """Parse ``64MiB``, ``1GiB``, ``512KiB`` or a plain byte count."""
    units = {"KIB": 1 << 10, "MIB": MiB, "GIB": GiB, "B": 1}
    upper = text.strip().upper()
    for suffix, factor in units.items():
        if upper.endswith(suffix):
            return int(float(upper[: -len(suffix)]) * factor)
    return int(upper)


def format_size(size: int) -> str:
    """``1073741824`` → ``1GiB``; ``16777216`` → ``16MiB``."""
    for factor, unit in ((GiB, "GiB"), (MiB, "MiB"), (1 << 10, "KiB")):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


def _tmp_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place (per process: no clashes)."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


def ensure_master(size: int) -> Path:
    """A random file of at least ``size`` bytes, made once and kept across runs.

    Written with fsync, so that its write-back cannot overlap a timed run.
    """
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    master = VAR_DIR / "data-master.bin"
    if master.exists() and master.stat().st_size >= size:
        return master
    # Random (incompressible, no repeats) but cheap: random.randbytes is ~GB/s, urandom is not.
    rng = random.Random()
    tmp = _tmp_path(master)
    with open(tmp, "wb") as f:
        written = 0
        while written < size:
            step = min(_GENERATE_STEP, size - written)
            f.write(rng.randbytes(step))
            written += step
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(master)
    # Prefix files made from an older master would no longer match it.
    for old in VAR_DIR.glob("data-[0-9]*.bin"):
        old.unlink()
    for old in VAR_DIR.glob("frames-*.bin"):
        old.unlink()
    return master


def data_file(size: int) -> Path:
    """``var/data-<size>.bin``: the first ``size`` bytes of the master file."""
    master = ensure_master(size)
    path = VAR_DIR / f"data-{format_size(size)}.bin"
    if path.exists() and path.stat().st_size == size:
        return path
    tmp = _tmp_path(path)
    with open(master, "rb") as src, open(tmp, "wb") as dst:
        copied = 0
        while copied < size:
            copied += os.sendfile(dst.fileno(), src.fileno(), copied, size - copied)
        os.fsync(dst.fileno())
    tmp.replace(path)
    return path


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, cached next to it (the server reports it in the handover)."""
    cache = path.with_suffix(".sha256")
    if cache.exists() and cache.stat().st_mtime >= path.stat().st_mtime:
        return cache.read_text().strip()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 * MiB):
            digest.update(block)
    cache.write_text(digest.hexdigest() + "\n")
    return digest.hexdigest()


def warm_up(size: int = 3 * GiB // 2) -> None:
    """Touch and free ``size`` bytes of memory just before a timed run.

    On this VM memory that has been free for a few seconds is slow to touch again
    (docs/performance.rst); without this the first run of a case pays for it and the cases
    are not comparable.
    """
    block = bytearray(b"\x01") * size  # a real write to every page, not a lazy calloc
    del block

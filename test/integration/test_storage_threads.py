"""Storage with real threads and the real reactor, in process (pytest-twisted).

The unit tests drive the storage lanes with deterministic doubles, one job at
a time; the server tests see only whole uploads. Here several files are
written at once by a real thread pool, each write queued before the last one
is done, in the three shapes the protocol produces: masked bytes received
straight into a landing, bytes copied into a landing, and plain bytes.
"""

from __future__ import annotations

import hashlib
import os
import random
from typing import Any

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.python.threadpool import ThreadPool

from incoming.storage.filesystem import FileSystemStorage, PartialFile
from incoming.unmasking import MaskedBytes
from test.support.wsclient import mask

FILES = 6
SIZE = (3 << 20) + 12345  # not a multiple of any block or buffer size


def queue_writes(store: FileSystemStorage, partial: PartialFile, data: bytes,
                 rng: random.Random) -> list[Any]:
    """Every byte of ``data``, in writes of odd sizes, all queued at once."""
    writes, offset = [], 0
    while offset < len(data):
        chunk = data[offset:offset + rng.randrange(1, 700_000)]
        shape = rng.choice(["masked", "landed", "plain"])
        if shape == "plain":
            writes.append(partial.write(offset, [chunk]))
        else:
            landing = store.landing(offset)
            if shape == "masked":
                key = rng.randbytes(4)
                payload = MaskedBytes(mask(chunk, key), key)
                pieces = payload.moved_to(landing.put(payload.data))
            else:
                pieces = landing.put(chunk)
            writes.append(partial.write(offset, pieces, landing.seal()))
        offset += len(chunk)
    return writes


@pytest_twisted.inlineCallbacks
def test_files_written_at_once_by_a_real_pool_land_whole_with_their_hashes(tmp_path):
    pool = ThreadPool(minthreads=1, maxthreads=4, name="test-storage")
    pool.start()
    try:
        store = FileSystemStorage(str(tmp_path), reactor, pool, 8 << 20)
        rng = random.Random(7)
        datas = [os.urandom(SIZE) for _ in range(FILES)]
        partials = [store.partial(f"T{n}") for n in range(FILES)]
        yield gatherResults([partial.open() for partial in partials])
        writes = [queue_writes(store, partial, data, rng)
                  for partial, data in zip(partials, datas, strict=True)]
        offsets = yield gatherResults([w for per_file in writes for w in per_file])
        assert max(offsets) == SIZE
        stored = yield gatherResults([partial.complete() for partial in partials])
    finally:
        pool.stop()
    for data, result in zip(datas, stored, strict=True):
        assert (result.size, result.sha256) == (SIZE, hashlib.sha256(data).hexdigest())
        with open(result.path, "rb") as f:
            assert f.read() == data

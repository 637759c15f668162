"""The demo app of ``./dev demo``, used as a person would, in each browser engine."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from test.browser.conftest import HERE

pytestmark = pytest.mark.time_limit(120)


@pytest.fixture(scope="module")
def demo_server(make_module_server):
    return make_module_server(demo=True)


def test_demo_uploads_picked_files_and_lists_them(engine, demo_server, tmp_path):
    """Files picked on the demo page are uploaded, handed over and listed with their SHA-256."""
    # Names of this engine's own: the demo lists every file its server received.
    files = {f"big-{engine}.bin": os.urandom(9 * 2**20 + 7),
             f"note-{engine}.txt": b"hello from the demo\n"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    params = {"demo": {"files": [str(tmp_path / n) for n in files], "timeoutMs": 60_000}}
    done = subprocess.run(["node", str(HERE / "driver.mjs"), engine, demo_server.base_url + "/",
                           json.dumps(params)], capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    arrived = {f["filename"]: f for f in result["arrived"]}
    assert set(arrived) == set(files)
    for name, data in files.items():
        assert arrived[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert arrived[name]["size"] == len(data)
        assert Path(arrived[name]["path"]).read_bytes() == data  # the demo keeps its files
        assert name in result["shown"]

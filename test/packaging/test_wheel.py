"""What ``pip install`` gets: a server that runs with no checkout and no Node.js."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_the_plugin_the_bundles_and_the_demo(tmp_path):
    """The wheel holds the twistd plugin, incoming.js/.mjs/.d.ts as built, and the demo page."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                    str(ROOT)], check=True, timeout=300, capture_output=True)
    [wheel] = tmp_path.glob("incoming-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "twisted/plugins/incoming_plugin.py" in names
    assert "twisted/plugins/__init__.py" not in names  # it would shadow Twisted's own
    for shipped in ["incoming.js", "incoming.mjs", "incoming.d.ts", "demo/index.html",
                    "demo/demo.js", "demo/demo.css"]:
        assert f"incoming/static/{shipped}" in names
        inside = zipfile.ZipFile(wheel).read(f"incoming/static/{shipped}")
        assert inside == (ROOT / "incoming" / "static" / shipped).read_bytes()

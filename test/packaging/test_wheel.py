"""What ``pip install`` gets: a server that runs with no checkout and no Node.js."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from test.support.backend import BackendAPI
from test.support.server import IncomingServer

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["incoming.js", "incoming.mjs", "incoming.d.ts", "demo/index.html", "demo/demo.js",
           "demo/demo.css"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(ROOT)], check=True, timeout=300, capture_output=True)
    [built] = out.glob("incoming-*.whl")
    return built


def test_wheel_ships_the_plugin_the_bundles_and_the_demo(wheel):
    """The wheel holds the twistd plugin, incoming.js/.mjs/.d.ts as built, and the demo page."""
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "twisted/plugins/incoming_plugin.py" in names
    assert "twisted/plugins/__init__.py" not in names  # it would shadow Twisted's own
    for shipped in SHIPPED:
        assert f"incoming/static/{shipped}" in names
        inside = zipfile.ZipFile(wheel).read(f"incoming/static/{shipped}")
        assert inside == (ROOT / "incoming" / "static" / shipped).read_bytes()


def test_the_installed_wheel_runs_away_from_the_checkout(wheel, tmp_path):
    """pip install into a fresh venv: its twistd finds the plugin, the package (not this
    checkout) serves incoming.js, and the backend API makes tickets."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True,
                   timeout=600, capture_output=True)
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import incoming; print(incoming.__file__)"], cwd=tmp_path,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where
    server = IncomingServer(tmp_path / "run", twistd=str(venv / "bin" / "twistd")).start()
    try:
        url = f"{server.base_url}/incoming/0.1/frontend/incoming.js"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == (ROOT / "incoming" / "static" / "incoming.js").read_bytes()
        assert BackendAPI(server.api_url).new_upload("http://127.0.0.1:9/done")
    finally:
        server.stop()

"""README.rst's backend example runs as it is printed, against a real server."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

from test.integration.wsupload import make_data, upload
from test.support.server import wait_until

README = Path(__file__).resolve().parents[2] / "README.rst"
API_KEY = "readme-example-key-0123456789"
SIGNING_KEY = "whsec_" + base64.b64encode(b"k" * 32).decode()


def backend_example() -> str:
    """The literal block after "**Backend**" in README.rst, dedented."""
    text = README.read_text()
    block = text[text.index("**Backend**"):]
    block = block[block.index("::\n\n") + 4:]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_readme_backend_hands_out_tickets_and_takes_signed_files(make_server, tmp_path):
    """The README's backend gets a ticket through the backend listener with an API key,
    verifies the signed callback and moves the stored file into its media folder."""
    port = _free_port()
    server = make_server(separate_backend=True, backend_api_key=[API_KEY],
                         callback_signing_key=[SIGNING_KEY],
                         callback_allow=[f"http://127.0.0.1:{port}/uploads/"])
    script = tmp_path / "backend.py"
    script.write_text(backend_example())
    media = tmp_path / "media"
    media.mkdir()
    env = dict(os.environ, INCOMING_URL=server.backend_base_url, INCOMING_API_KEY=API_KEY,
               INCOMING_SIGNING_KEY=SIGNING_KEY, MEDIA_DIR=str(media), PORT=str(port))
    process = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ticket = wait_until(lambda: _new_ticket(port), 20, message="the README backend")
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", ticket)
        data = make_data(300_000)
        upload(server, ticket, data)
        moved = media / ticket
        wait_until(moved.exists, 20, message="the file in the media folder")
        assert hashlib.sha256(moved.read_bytes()).digest() == hashlib.sha256(data).digest()
        assert not server.complete_path(ticket).exists()
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert "Traceback" not in output, output


def _new_ticket(port: int) -> str | None:
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/uploads/new-ticket",
                                         data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None

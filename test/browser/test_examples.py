"""The example web apps of examples/, each started with its one command (nginx, Incoming!!, the
app), used in Chromium through nginx: a 1 GiB file arrives byte-identical in the app's own
storage; the Express app runs two uploads at once with pause, resume and cancel."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from test.support.nginx import ROOT, free_port
from test.support.s3server import MotoServer, moto_server
from test.support.server import wait_until

MiB = 1 << 20
GiB = 1 << 30
DRIVER = Path(__file__).parent / "examples.mjs"
EXAMPLES = ROOT / "examples"
TIMEOUT = 150.0

pytestmark = pytest.mark.time_limit(240)


@dataclass(frozen=True)
class Made:
    path: Path
    sha256: str


def make_file(path: Path, size: int) -> Made:
    """Random bytes, cheaply: one random MiB, each copy numbered so that no two MiB are alike
    (a block out of place changes the hash)."""
    block = bytearray(os.urandom(MiB))
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for number in range(size // MiB):
            block[:8] = number.to_bytes(8, "big")
            out.write(block)
            digest.update(block)
    return Made(path, digest.hexdigest())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def one_gib(tmp_path_factory: pytest.TempPathFactory) -> Made:
    return make_file(tmp_path_factory.mktemp("files") / "one-gib.bin", GiB)


@dataclass
class Deployment:
    url: str
    """nginx, where the browser goes: ``http://127.0.0.1:PORT/``."""
    data: Path
    """The deployment's --dir: media/ (the app's storage), logs/, nginx/."""

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=20) as answer:
            return json.load(answer)

    @property
    def app_port(self) -> int:
        conf = (self.data / "nginx" / "nginx.conf").read_text()
        return int(re.search(r"upstream app \{\s*server 127\.0\.0\.1:(\d+);", conf)[1])  # type: ignore[index]


@contextlib.contextmanager
def deployment(app: str, tmp_path: Path, *options: str) -> Iterator[Deployment]:
    """``examples/APP/run [OPTIONS]``, as a person starts it; SIGTERM at the end stops it
    cleanly."""
    data, output = tmp_path / f"{app}-run", tmp_path / f"{app}-run.out"
    with open(output, "wb") as out:
        process = subprocess.Popen([str(EXAMPLES / app / "run"), "--port", str(free_port()),
                                    "--dir", str(data), *options], stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    try:
        ready = wait_until(lambda: process.poll() is not None
                           or re.search(r"ready: (\S+)", output.read_text()), 60,
                           message=lambda: f"the {app} example\n{output.read_text()}")
        assert process.poll() is None, output.read_text()
        yield Deployment(ready[1], data)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    assert code == 0, output.read_text()
    logs = {path.stem: path.read_text(errors="replace") for path in (data / "logs").iterdir()}
    for name in (name for name in logs if name.startswith("incoming")):
        assert "Traceback" not in logs[name], logs[name]
    assert "could not take" not in logs[app], logs[app]


def use(app: str, url: str, **params: Any) -> dict[str, Any]:
    """One run of examples.mjs; what the page showed."""
    done = subprocess.run(["node", str(DRIVER), app, url,
                           json.dumps({"timeoutMs": TIMEOUT * 1000, **params})],
                          capture_output=True, text=True, timeout=TIMEOUT + 30)
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def refuses_a_forged_callback(running: Deployment) -> bool:
    """The app's callback, called in time but without Incoming!!'s signature, answers 401."""
    forged = urllib.request.Request(
        f"http://127.0.0.1:{running.app_port}/hooks/incoming", method="POST",
        data=b"id=x&filename=%2Fetc%2Fpasswd&cancelled=no&sha256=&size=1",
        headers={"webhook-id": "msg_1", "webhook-timestamp": str(int(time.time())),
                 "webhook-signature": "v1," + base64.b64encode(bytes(32)).decode()})
    try:
        urllib.request.urlopen(forged, timeout=10)
    except urllib.error.HTTPError as error:
        return error.code == 401
    return False


def assert_stored(running: Deployment, made: Made, result: dict[str, Any],
                  bucket: MotoServer | None = None) -> str:
    """The app took the file: byte-identical in its storage, nothing left in Incoming!!'s
    (a directory, or the ``bucket``: the object goes once the app finished the upload), and
    the backend API (upload_status through the app) says finished. The ticket."""
    ticket = result["ticket"]
    assert result["sha256"] == made.sha256 and result["size"] == made.path.stat().st_size
    assert result["url"] == f"/files/{ticket}"
    assert sha256_of(running.data / "media" / ticket) == made.sha256
    if bucket is None:
        assert not list((running.data / "incoming" / "complete").iterdir())
    else:
        wait_until(lambda: not [key for key in bucket.object_keys() if ticket in key], 10)
        assert bucket.multipart_uploads() == []
    return str(ticket)


def test_flask_example_takes_a_gib_through_nginx(tmp_path: Path, one_gib: Made) -> None:
    """The page the backend rendered with its ticket uploads 1 GiB; the app verifies the
    signed callback, moves the file, checks it and finishes the upload with a link."""
    with deployment("flask", tmp_path) as running:
        shown = use("flask", running.url, file=str(one_gib.path))
        assert shown["state"] == "finished", shown
        print(f"1 GiB through nginx into the Flask app in {shown['seconds']:.1f} s")
        assert shown["sha256"] == one_gib.sha256
        ticket = assert_stored(running, one_gib, shown["result"])
        assert shown["link"] == f"/files/{ticket}"
        assert running.get(f"/api/status/{ticket}")["state"] == "finished"
        assert [f["ticket"] for f in running.get("/api/files")] == [ticket]
        assert refuses_a_forged_callback(running)
        assert f"PATCH /incoming/0.1/tus/{ticket}" in (running.data / "nginx" /
                                                        "access.log").read_text()


def test_express_example_two_uploads_with_pause_resume_and_cancel(
        tmp_path: Path, one_gib: Made) -> None:
    """Two files picked at once, a ticket each over AJAX: one (1 GiB) is paused with its
    button, holds still, resumes and arrives byte-identical; the other is cancelled with its
    button, and the backend hears the cancel."""
    other = make_file(tmp_path / "other.bin", 96 * MiB)
    with deployment("express", tmp_path) as running:
        shown = use("express", running.url, files=[str(one_gib.path), str(other.path)],
                    pause={"index": 0, "atFraction": 0.1, "forMs": 1500},
                    cancel={"index": 1})
        big, cancelled = shown["uploads"]
        assert big["finished"], big
        assert big["sha256"] == one_gib.sha256
        ticket = assert_stored(running, one_gib, big["result"])
        assert shown["pausedLabel"] == "Resume"
        assert shown["afterHold"] == shown["pausedAt"] < GiB
        assert cancelled["cancelled"] and cancelled["cancel_msg"] == "cancelled in the page"
        files = running.get("/api/files")
        assert [f["ticket"] for f in files["stored"]] == [ticket]
        assert files["cancelled"] == {cancelled["ticket"]: "cancelled in the page"}
        assert running.get(f"/api/tickets/{cancelled['ticket']}")["state"] == "cancelled"
        assert refuses_a_forged_callback(running)


def test_flask_example_with_two_instances_sharing_redis(tmp_path: Path, one_gib: Made) -> None:
    """``run --instances 2``: Redis and two Incoming!! instances behind nginx without sticky
    sessions. The page's PATCHes take turns between the instances (least_conn among idle
    ones), so 1 GiB moves from one to the other and back many times (each move hashes only
    what the other instance wrote), and still arrives byte-identical and ends once."""
    made = one_gib
    with deployment("flask", tmp_path, "--instances", "2") as running:
        shown = use("flask", running.url, file=str(made.path))
        assert shown["state"] == "finished", shown
        assert shown["transport"] == "http"
        ticket = assert_stored(running, made, shown["result"])
        assert running.get(f"/api/status/{ticket}")["state"] == "finished"
        logs = [(running.data / "logs" / f"incoming{n}.log").read_text() for n in (1, 2)]
        for log in logs:  # a ticket made on one, continued on the other: the state is shared
            assert re.search(rf"ticket {ticket[:8]} resumed at offset [1-9]", log), log
        assert sum(log.count(f"ticket {ticket[:8]} finished:") for log in logs) == 1
        moves = sum(len(re.findall(rf"ticket {ticket[:8]} resumed", log)) for log in logs)
        print(f"1 GiB through two instances in {shown['seconds']:.1f} s, {moves} moves")


def test_flask_example_takes_its_file_from_s3(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``run --storage s3://BUCKET/PREFIX`` with moto's S3 server in the AWS_* environment:
    Incoming!! stores the upload as an object, and the app downloads it with boto3 from the
    bucket and key the callback names, checks it and finishes the upload."""
    made = make_file(tmp_path / "object.bin", 24 * MiB)
    with moto_server(tmp_path) as bucket:
        for name, value in bucket.environment.items():
            monkeypatch.setenv(name, value)  # for Incoming!! and the app alike
        with deployment("flask", tmp_path, "--storage", f"s3://{bucket.bucket}/examples/"
                        ) as running:
            shown = use("flask", running.url, file=str(made.path))
            assert shown["state"] == "finished", shown
            assert_stored(running, made, shown["result"], bucket)

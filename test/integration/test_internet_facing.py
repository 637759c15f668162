"""A real twistd facing the internet: the backend listener, API keys, secrets kept out of
logs, request deadlines and body caps, error pages, twist, JSON logs, file permissions."""

from __future__ import annotations

import grp
import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from test.integration.wsupload import make_data, sha256, upload
from test.support.backend import BackendAPI
from test.support.server import run_twistd, wait_until

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-0123456789abcdef"


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode()


def _raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_a_separate_backend_listener_takes_the_backend_api_off_the_public_port(
        make_server, backend):
    """With --backend-listen, the public port serves the library and uploads but no backend
    API; the backend port serves the API and no library; an upload works across both."""
    server = make_server(separate_backend=True)
    public = f"{server.base_url}/incoming/0.1"
    private = f"{server.backend_base_url}/incoming/0.1"
    code, body = _get(f"{public}/backend/new_upload", {"Accept": "application/json"})
    assert code == 404
    assert json.loads(body)["error"]["message"] == (
        "the backend API is served on the backend listener only")
    assert _get(f"{public}/frontend/incoming.js")[0] == 200
    assert _get(f"{private}/frontend/incoming.js")[0] == 404
    ticket = BackendAPI(server.api_url).new_upload(backend.callback_url())
    data = make_data(100_000)
    upload(server, ticket, data)
    assert backend.wait_for_callbacks(ticket)[0].form["sha256"] == sha256(data)


def test_api_keys_are_required_from_the_option_and_the_key_file(make_server, backend, tmp_path):
    """With keys set, a call without a valid key gets 401 and changes nothing; a key from
    --backend-api-key or from the key file is accepted; keys never reach the log."""
    key_file = tmp_path / "keys"
    key_file.write_text(f"# the backend's key\n\n{KEY_B}\n")
    server = make_server(backend_api_key=[KEY_A], backend_api_key_file=str(key_file))
    without = BackendAPI(server.api_url)
    refused = without.call("new_upload", {"signalFinishURL": backend.callback_url()},
                           accept_json=True)
    assert refused.status == 401
    assert refused.json()["error"]["name"] == "unauthorized"
    wrong = without.call("new_upload", {"signalFinishURL": backend.callback_url()},
                         headers={"Authorization": "Bearer " + KEY_A[:-1] + "x"})
    assert wrong.status == 401
    for key in (KEY_A, KEY_B):
        made = without.call("new_upload", {"signalFinishURL": backend.callback_url()},
                            headers={"Authorization": f"Bearer {key}"})
        assert made.status == 200
    ticket = made.text.strip()
    cancel = without.call("cancel_upload", {"id": ticket})
    assert cancel.status == 401
    status = without.call("upload_status", {"id": ticket}, method="GET",
                          headers={"Authorization": f"Bearer {KEY_A}"})
    assert status.json()["state"] == "created"
    assert KEY_A not in server.log and KEY_B not in server.log


def test_metrics_need_a_key_and_healthz_never_does(make_server):
    """With keys and a backend listener: /metrics answers 401 without a key and 200 with
    one; /healthz answers 200 without; neither is on the public port."""
    server = make_server(separate_backend=True, backend_api_key=[KEY_A])
    base = server.backend_base_url
    assert _get(f"{base}/metrics")[0] == 401
    code, body = _get(f"{base}/metrics", {"Authorization": f"Bearer {KEY_A}"})
    assert code == 200 and "incoming_uploads_total" in body
    assert _get(f"{base}/healthz") == (200, "ok\n")
    assert _get(f"{server.base_url}/metrics")[0] == 404
    assert _get(f"{server.base_url}/healthz")[0] == 404


def test_a_bad_key_file_stops_the_server_before_it_touches_the_disk(tmp_path):
    """A key file that cannot be read, or a bad listen endpoint, stops startup with one line,
    and the storage directory is never created."""
    storage = tmp_path / "storage"
    for args, option in ((["--backend-api-key-file", str(tmp_path / "missing")],
                          "backend_api_key_file"),
                         (["--listen", "nonsense"], "listen"),
                         (["--backend-listen", "tcp:notaport"], "backend_listen"),
                         (["--backend-api-key", "short"], "backend_api_key")):
        done = run_twistd(["--storage-dir", str(storage), *args], cwd=tmp_path)
        assert done.returncode == 2, done
        assert done.stderr.startswith(f"incoming: bad configuration: {option}: "), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert not storage.exists()
        assert not (tmp_path / "twistd.pid").exists()


def test_the_backend_secret_travels_in_a_header_and_never_reaches_the_log(
        make_server, backend):
    """Incoming-Backend-Secret works like the form value; a secret still sent in a query
    string is redacted in the access log, and ticket IDs appear there only shortened."""
    server = make_server()
    api = BackendAPI(server.api_url)
    secret = "very-secret-value-42"
    ticket = api.new_upload(backend.callback_url(), backend_secret=secret)
    by_header = api.call("upload_status", {"id": ticket}, method="GET",
                         headers={"Incoming-Backend-Secret": secret})
    assert by_header.status == 200 and by_header.json()["state"] == "created"
    assert api.call("upload_status", {"id": ticket}, method="GET",
                    headers={"Incoming-Backend-Secret": "wrong"}).status == 403
    in_query = api.call("upload_status", {"id": ticket, "backendSecret": secret}, method="GET")
    assert in_query.status == 200
    server.wait_for_log(r"upload_status\?id=" + ticket[:8] + r"&backendSecret=\[redacted\]")
    assert secret not in server.log
    assert ticket not in server.log


def test_unknown_paths_answer_in_the_api_error_format(server):
    """Unknown paths under /incoming/ get a 404 in the documented format, not HTML."""
    for path in ("/incoming/", "/incoming/0.2/x", "/incoming/0.1/nope",
                 "/incoming/0.1/backend/nope", "/incoming/0.1/frontend/nope"):
        code, body = _get(server.base_url + path, {"Accept": "application/json"})
        assert code == 404, path
        assert json.loads(body)["error"] == {"code": 16, "name": "not_found",
                                             "message": "no such path"}
        code, body = _get(server.base_url + path)
        assert (code, body) == (404, "no such path\n")


def test_a_trickling_client_is_cut_and_others_are_served(make_server):
    """A client sending one header byte every 0.25 s is cut at request_timeout with 408,
    while prompt requests on other connections are answered meanwhile."""
    server = make_server(request_timeout="2s")
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    start = time.monotonic()
    answer = b""
    try:
        for byte in b"GET /incoming/0.1/frontend/incoming.js HTTP/1.1\r\nHost: x\r\nX-Slow: " \
                + b"a" * 40:
            if select.select([sock], [], [], 0.25)[0]:
                answer = sock.recv(4096)
                break
            sock.sendall(bytes([byte]))
            if byte == ord("H"):  # meanwhile, a prompt client is served
                assert _get(f"{server.base_url}/incoming/0.1/frontend/incoming.js")[0] == 200
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer
    assert 2 <= time.monotonic() - start < 3.5
    server.wait_for_log(r"cut HTTP client 127\.0\.0\.1: request not received within 2 seconds")


def test_a_backend_api_body_over_64_kib_is_refused(server, backend):
    """A new_upload whose body is larger than 64 KiB gets 413 and makes no ticket."""
    padding = b"x" * (65 * 1024)
    body = b"signalFinishURL=" + backend.callback_url().encode() + b"&pad=" + padding
    answer = _raw(server.port, b"POST /incoming/0.1/backend/new_upload HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert answer.startswith(b"HTTP/1.1 413 Content Too Large"), answer[:100]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_twist_runs_the_server_too(tmp_path, backend):
    """`twist incoming` listens and serves uploads like `twistd -n incoming`, and stops on
    SIGTERM."""
    port = _free_port()
    twist = Path(sys.executable).with_name("twist")
    log = (tmp_path / "twist.log").open("wb")
    process = subprocess.Popen([str(twist), "incoming", "--listen",
                                f"tcp:{port}:interface=127.0.0.1", "--storage-dir",
                                str(tmp_path / "storage")], stdout=log, stderr=subprocess.STDOUT,
                               cwd=tmp_path, stdin=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(base), 20, message="twist incoming to answer")
        ticket = BackendAPI(f"{base}/incoming/0.1/backend").new_upload(backend.callback_url())
        assert len(ticket) >= 22
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) in (0, -signal.SIGTERM)
        log.close()
    assert "Traceback" not in (tmp_path / "twist.log").read_text()


def _answers(base: str) -> bool:
    try:
        return _get(f"{base}/incoming/0.1/frontend/incoming.js")[0] == 200
    except OSError:
        return False


def test_json_log_format_writes_one_json_object_a_line(make_server):
    """--log-format json: every line the server logs is a JSON object with its fields."""
    server = make_server(log_format="json")
    _get(f"{server.base_url}/incoming/0.1/nope")
    server.stop()
    lines = [line for line in server.log.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]
    assert all(isinstance(event, dict) for event in events)
    assert any("log_format" in event for event in events)
    assert any("/incoming/0.1/nope" in json.dumps(event) for event in events)


def test_stored_files_get_the_configured_mode_and_group(make_server, backend):
    """--file-mode 0660 --file-group G: the stored file and complete/ belong to G, and the
    group may move files out of complete/."""
    group = grp.getgrnam("daemon")
    server = make_server(file_mode="0660", file_group="daemon")
    ticket = BackendAPI(server.api_url).new_upload(backend.callback_url(),
                                                   remove_file_when_finished=False)
    upload(server, ticket, make_data(5000))
    path = Path(backend.wait_for_callbacks(ticket)[0].form["filename"])
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o660 and info.st_gid == group.gr_gid
    folder = path.parent.stat()
    assert folder.st_gid == group.gr_gid and stat.S_IMODE(folder.st_mode) & 0o070 == 0o070


@pytest.mark.parametrize("value", ["nogroup-that-does-not-exist-xyz"])
def test_an_unknown_file_group_stops_startup(tmp_path, value):
    """A file_group that names no group stops startup with one line naming the option."""
    done = run_twistd(["--storage-dir", str(tmp_path / "s"), "--file-group", value],
                      cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"incoming: bad configuration: file_group: no group named {value!r}")
    assert not os.path.exists(tmp_path / "s")


def test_the_fast_receive_path_is_active_and_the_plain_path_works_too(make_server, backend):
    """On the pinned library versions the server says the whole fast path is on; with
    --fast-receive false it says off, and an upload through Autobahn's public APIs alone
    arrives intact."""
    fast = make_server()
    fast.wait_for_log(r"receive path: socket reads on, unmasking in storage on \(Twisted ")
    plain = make_server(fast_receive="false")
    plain.wait_for_log(r"receive path: socket reads off, unmasking in storage off \(turned off\)")
    data = make_data(3 * 1024 * 1024 + 17, seed=9)
    ticket = BackendAPI(plain.api_url).new_upload(backend.callback_url())
    upload(plain, ticket, data)
    assert backend.wait_for_callbacks(ticket)[0].form["sha256"] == sha256(data)

"""Starting and stopping ``twistd -n incoming``: bad configuration, config files, SIGTERM."""

from __future__ import annotations

import concurrent.futures
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from test.support.backend import BackendAPI, FakeBackend
from test.support.server import IncomingServer, run_twistd
from test.support.tls import self_signed
from test.integration.wsupload import Connection, make_data, upload

QUICKLY = 10.0
"""Seconds within which a server with a bad configuration must have exited."""


def _assert_refused_start(result: subprocess.CompletedProcess[str], option: str) -> None:
    assert result.returncode != 0, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, (f"stderr should be one line, got {len(lines)}:\n{result.stderr}\n"
                             f"(stdout ends:\n{result.stdout[-600:]})")
    assert option in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout, result.stderr + result.stdout


class StillRunning(AssertionError):
    pass


def _start_refused(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return run_twistd(args, cwd=cwd, timeout=QUICKLY)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return subprocess.CompletedProcess(args, None, out, "")  # type: ignore[arg-type]


BAD_OPTIONS = {
    "max_upload_size": ["--max-upload-size", "lots"],
    "chunk_size": ["--chunk-size", "1KiB"],
    "window_size": ["--chunk-size", "1MiB", "--window-size", "512KiB"],
    "idle_timeout": ["--idle-timeout", "0"],
    "ping_interval": ["--ping-interval", "soon"],
    "handover_timeout": ["--handover-timeout", "-1s"],
    "storage_threads": ["--storage-threads", "0"],
    "listen": ["--listen", "nonsense:4000"],
    "max-upload-sise": ["--max-upload-sise", "5GB"],  # misspelt: no such option
}

BAD_CONFIG_FILES = {
    "window_size": 'window_size = "huge"\n',
    "handover_max_delay": "handover_max_delay = true\n",
    "demo": 'demo = "perhaps"\n',
    "listen": "listen = []\n",
    "storage_dir": "storage_dir = 5\n",
    "no_such_option": "no_such_option = 1\n",
    "config": "this is = not toml [\n",
}

LISTEN = ["--listen", "tcp:0:interface=127.0.0.1"]

TLS_KEY_PROBLEMS = {
    "missing-key": "{base}/nowhere.pem",
    "key-not-pem": "{not_pem}",
    "bad-ssl-method": "{key}:certKey={cert}:sslmethod=NO_SUCH_METHOD",
}
"""ssl: endpoints that cannot be used: each raised its own exception, not ValueError."""


def _refused_cases(base: Path, taken_port: int) -> dict[str, list[str]]:
    """Every bad start-up, by test name: the arguments of twistd incoming."""
    cases: dict[str, list[str]] = {}
    for option, args in BAD_OPTIONS.items():
        extra = [] if option == "listen" else LISTEN
        cases[f"option-{option}"] = ["--storage-dir", str(base / "store"), *args, *extra]
    for option, text in BAD_CONFIG_FILES.items():
        config = base / f"{option}.toml"
        config.write_text(text)
        extra = [] if option in ("listen", "storage_dir") else [
            *LISTEN, "--storage-dir", str(base / "store")]
        cases[f"config-{option}"] = ["--config", str(config), *extra]
    cases["missing-config-file"] = ["--config", str(base / "nowhere.toml"),
                                    "--storage-dir", str(base / "store")]
    blocker = base / "a-file"
    blocker.write_text("not a directory")
    cases["storage-dir-under-a-file"] = ["--storage-dir", str(blocker / "store"), *LISTEN]
    cases["storage-dir-unwritable"] = ["--storage-dir", "/proc/incoming-store", *LISTEN]
    cases["port-out-of-range"] = ["--storage-dir", str(base / "store"),
                                  "--listen", "tcp:99999:interface=127.0.0.1"]
    cases["port-in-use"] = ["--storage-dir", str(base / "store"),
                            "--listen", f"tcp:{taken_port}:interface=127.0.0.1"]
    not_pem = base / "not-a-key.pem"
    not_pem.write_text("not a key\n")
    key, cert = self_signed(base)
    for name, template in TLS_KEY_PROBLEMS.items():
        private_key = template.format(base=base, not_pem=not_pem, key=key, cert=cert)
        cases[f"tls-{name}"] = ["--storage-dir", str(base / "store"), "--listen",
                                f"ssl:0:interface=127.0.0.1:privateKey={private_key}"]
    return cases


@pytest.fixture(scope="module")
def refused_starts(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    """All the bad start-ups, run two at a time (each is bounded by QUICKLY on its own)."""
    base = tmp_path_factory.mktemp("refused")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cases = _refused_cases(base, taken.getsockname()[1])
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = {name: pool.submit(_start_refused, args, base)
                       for name, args in cases.items()}
            yield {name: future.result() for name, future in futures.items()}


def _refused(refused_starts: dict[str, subprocess.CompletedProcess[str]], name: str,
             option: str) -> None:
    result = refused_starts[name]
    if result.returncode is None:
        raise StillRunning(f"twistd incoming {' '.join(map(str, result.args))} still runs after "
                           f"{QUICKLY:g}s; its output ends:\n{result.stdout[-1500:]}")
    _assert_refused_start(result, option)


@pytest.mark.time_limit(120)
@pytest.mark.parametrize("option", list(BAD_OPTIONS))
def test_bad_command_line_option(option: str,
                                 refused_starts) -> None:  # type: ignore[no-untyped-def]
    """A bad option value stops twistd at once, non-zero, with one stderr line naming the option."""
    _refused(refused_starts, f"option-{option}", option)


@pytest.mark.parametrize("option", list(BAD_CONFIG_FILES))
def test_bad_config_file_value(option: str, refused_starts) -> None:  # type: ignore[no-untyped-def]
    """A bad value in the --config file stops twistd at once with one stderr line naming it."""
    _refused(refused_starts, f"config-{option}", option)


def test_missing_config_file(refused_starts) -> None:  # type: ignore[no-untyped-def]
    """A --config file that does not exist stops twistd with one line naming it."""
    _refused(refused_starts, "missing-config-file", "config")


@pytest.mark.parametrize("where", ["under-a-file", "unwritable"])
def test_unusable_storage_dir(where: str, refused_starts) -> None:  # type: ignore[no-untyped-def]
    """A storage dir that cannot be created stops twistd with one line naming storage_dir, no
    traceback."""
    _refused(refused_starts, f"storage-dir-{where}", "storage_dir")


def test_port_out_of_range(refused_starts) -> None:  # type: ignore[no-untyped-def]
    """A listen endpoint with a port that cannot exist stops twistd with one line naming listen."""
    _refused(refused_starts, "port-out-of-range", "listen")


@pytest.mark.parametrize("problem", list(TLS_KEY_PROBLEMS))
def test_unusable_tls_key(problem: str, refused_starts) -> None:  # type: ignore[no-untyped-def]
    """An ssl: endpoint whose key is missing, not PEM or asks for an unknown method stops twistd
    with one line naming listen, no traceback."""
    _refused(refused_starts, f"tls-{problem}", "listen")


def test_port_in_use(refused_starts) -> None:  # type: ignore[no-untyped-def]
    """A server that cannot listen (the port is taken) exits non-zero at once instead of running
    deaf."""
    _refused(refused_starts, "port-in-use", "listen")


@pytest.mark.parametrize("flag, says", [("--help", "--no-demo"), ("--version", "incoming 0.")])
def test_help_and_version_answer_and_exit_0(flag: str, says: str, tmp_path: Path) -> None:
    result = run_twistd([flag], cwd=tmp_path, timeout=QUICKLY)
    assert result.returncode == 0 and says in result.stdout, result


def test_config_file_is_read_and_the_command_line_wins(
        make_server: Callable[..., IncomingServer], backend: FakeBackend) -> None:
    """Options come from the --config file; the same option on the command line overrides it."""
    server = make_server(config={"chunk_size": "64KiB", "window_size": "1MiB",
                                 "max_upload_size": "1000"},
                         chunk_size="32KiB")
    api = BackendAPI(server.api_url)
    ticket = api.new_upload(backend.callback_url())
    conn = Connection(server)
    welcome = conn.hello(ticket, 1000)
    assert welcome["chunkSize"] == 32 * 1024
    assert welcome["window"] == 1024 * 1024
    conn.close()
    too_big = Connection(server)
    assert too_big.hello(api.new_upload(backend.callback_url()), 1001)["code"] == 5


def test_sigterm_with_a_client_connected(make_server: Callable[..., IncomingServer],
                                         backend: FakeBackend) -> None:
    """SIGTERM while a client uploads: the client gets error 13 (or a close) and the server exits
    cleanly."""
    server = make_server()
    api = BackendAPI(server.api_url)
    data = make_data(500_000, seed=71)
    ticket = api.new_upload(backend.callback_url())
    conn = Connection(server)
    conn.hello(ticket, len(data))
    conn.send_data(data, upto=200_000)
    conn.wait_for_ack(200_000)
    idle = Connection(server)  # connected, no hello yet
    server.stop()  # asserts a clean exit
    code = conn.until_closed()
    errors = conn.of_type("error")
    assert (errors and errors[0]["code"] == 13 and code == 4013) or (not errors and code != 1000), \
        (errors, code)
    idle.until_closed()  # a connection without hello is closed too (any code), not left hanging
    server.start()
    assert upload(server, ticket, data).states[-1] == "finished"


def test_sigterm_when_idle_exits_cleanly(make_server: Callable[..., IncomingServer]) -> None:
    """A server with nothing to do stops on SIGTERM promptly and cleanly, and starts again on its
    port."""
    server = make_server()
    port = server.port
    server.stop()
    server.start()
    assert server.port == port
    server.stop()

"""Configuration: units, validation, the three spellings of every option."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from incoming.config import OPTIONS, Config, ConfigError, load, parse_duration, parse_size
from incoming.tap import Options

ETC = Path(__file__).resolve().parents[2] / "etc" / "incoming.toml"


@pytest.mark.parametrize("text, size", [
    ("1048576", 1048576), (4096, 4096), ("64MiB", 64 * 2**20), ("2GiB", 2 * 2**30),
    ("10GB", 10 * 10**9), ("512 KiB", 512 * 1024), ("1.5MiB", 1572864),
])
def test_sizes_take_units(text, size):
    """Sizes accept bare bytes and binary or decimal units."""
    assert parse_size(text) == size


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("12h", 43200), ("500ms", 0.5),
                                           ("7d", 604800), ("5m", 300), (10, 10)])
def test_durations_take_units(text, seconds):
    """Durations accept ms, s, m, h, d and bare seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("values, option", [
    ({"chunk_size": "12xb"}, "chunk_size"),
    ({"chunk_size": "1KiB"}, "chunk_size"),
    ({"window_size": "64KiB", "chunk_size": "1MiB"}, "window_size"),
    ({"idle_timeout": "0s"}, "idle_timeout"),
    ({"handover_timeout": "soon"}, "handover_timeout"),
    ({"demo": "maybe"}, "demo"),
    ({"listen": []}, "listen"),
    ({"storage_threads": "0"}, "storage_threads"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_values_name_their_option(values, option):
    """A bad value raises ConfigError whose one-line message starts with the option's name."""
    with pytest.raises(ConfigError) as caught:
        Config.from_values(values)
    assert caught.value.option == option
    assert str(caught.value).startswith(f"{option}: ") and "\n" not in str(caught.value)


def test_command_line_beats_the_file(tmp_path):
    """A value on the command line overrides the same option in the TOML file."""
    path = tmp_path / "c.toml"
    path.write_text('chunk_size = "2MiB"\nidle_timeout = "10s"\n')
    options = Options()
    options.parseOptions(["--config", str(path), "--chunk-size", "4MiB", "--listen", "tcp:1",
                          "--listen", "tcp:2", "--demo"])
    config = load(options["config"], options.overrides())
    assert (config.chunk_size, config.idle_timeout) == (4 * 2**20, 10.0)
    assert config.listen == ("tcp:1", "tcp:2") and config.demo is True


def test_no_demo_turns_off_the_demo_of_the_file(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("demo = true\n")
    options = Options()
    options.parseOptions(["--config", str(path), "--no-demo"])
    assert load(options["config"], options.overrides()).demo is False
    with pytest.raises(SystemExit):
        Options().parseOptions(["--demo", "--no-demo"])
    assert capsys.readouterr().err.strip().endswith("contradict each other (twistd incoming "
                                                    "--help lists the options)")


def test_unreadable_or_broken_file_is_one_line(tmp_path):
    """A missing or invalid TOML file is a ConfigError about the config option."""
    with pytest.raises(ConfigError, match="^config: cannot read"):
        load(str(tmp_path / "missing.toml"), {})
    (tmp_path / "bad.toml").write_text("chunk_size = \n")
    with pytest.raises(ConfigError, match="^config: .* is not valid TOML"):
        load(str(tmp_path / "bad.toml"), {})


def test_etc_file_lists_every_option_with_its_default():
    """etc/incoming.toml sets every option to its default, so it documents them all."""
    text = ETC.read_text()
    keys = re.findall(r"^([a-z0-9_]+) = ", text, re.M)
    assert sorted(keys) == sorted(option.name for option in OPTIONS)
    assert load(str(ETC), {}) == Config()


def test_every_option_has_a_command_line_flag():
    """Each option is spelled --with-dashes on the command line."""
    flags = {name for name, *_ in Options.optParameters} | {"demo"}
    repeatable = {option.flag for option in OPTIONS if option.repeatable}
    assert {option.flag for option in OPTIONS} <= flags | repeatable
    for flag in repeatable:
        assert hasattr(Options, "opt_" + flag.replace("-", "_"))


def test_repeatable_flags_collect_every_value():
    """A list option given twice on the command line keeps both values, in order."""
    options = Options()
    options.parseOptions(["--backend-api-key", "one", "--backend-api-key", "two",
                          "--listen", "tcp:1", "--allowed-origin", "https://a.example"])
    assert options.overrides()["backend_api_key"] == ["one", "two"]
    assert options.overrides()["listen"] == ["tcp:1"]
    assert Config.from_values(options.overrides()).allowed_origin == ("https://a.example",)


def test_bad_value_stops_twistd_with_one_line(tmp_path):
    """twistd incoming with a bad value exits 2 with one stderr line and no traceback."""
    twistd = Path(sys.executable).parent / "twistd"
    done = subprocess.run([str(twistd), "-n", "--pidfile=", "incoming", "--window-size", "1KiB",
                           "--storage-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "incoming: bad configuration: window_size: 1024 is below chunk_size (1048576)"]


def test_busy_port_stops_twistd_with_one_line(tmp_path):
    """A port already taken stops twistd incoming at once, exit 1, naming the endpoint."""
    import socket

    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    twistd = Path(sys.executable).parent / "twistd"
    try:
        done = subprocess.run([str(twistd), "-n", "--pidfile=", "incoming", "--listen",
                               f"tcp:{port}:interface=127.0.0.1", "--storage-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)
    finally:
        taken.close()
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"incoming: cannot listen on tcp:{port}:interface=127.0.0.1: "
        "[Errno 98] Address already in use"]
    assert "Traceback" not in done.stdout + done.stderr


def test_unusable_storage_dir_is_one_line(tmp_path):
    """A storage directory that cannot be created stops startup naming storage_dir."""
    twistd = Path(sys.executable).parent / "twistd"
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = subprocess.run([str(twistd), "-n", "--pidfile=", "incoming", "--storage-dir",
                           str(blocker / "sub")], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("incoming: bad configuration: storage_dir: cannot use")
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_systemd_unit_starts_twistd_with_options_that_exist():
    """etc/incoming.service's ExecStart parses as twistd's and our command line, and the
    storage directory it names is the one the unit lets the server write."""
    from twisted.scripts.twistd import ServerOptions

    unit = dict(line.split("=", 1) for line in (ETC.parent / "incoming.service").read_text()
                .splitlines() if "=" in line and not line.startswith("#"))
    argv = shlex.split(unit["ExecStart"])
    assert argv[0].endswith("/bin/twistd")
    twistd = ServerOptions()
    twistd.parseOptions(argv[1:])
    assert twistd.subCommand == "incoming" and twistd["nodaemon"]
    assert twistd.subOptions.overrides()["storage_dir"] == unit["ReadWritePaths"]
    assert unit["ReadWritePaths"] == "/var/lib/" + unit["StateDirectory"]


def test_state_names_sqlite_or_redis():
    """state takes sqlite:PATH and redis(s):// URLs; anything else stops the server."""
    from incoming.config import sqlite_path
    default = Config.from_values({"storage_dir": "/srv/in"})
    assert sqlite_path(default) == "/srv/in/tickets.sqlite3"
    assert sqlite_path(Config.from_values({"state": "sqlite:/db/t.sqlite3"})) == "/db/t.sqlite3"
    assert sqlite_path(Config.from_values({"state": "rediss://h:6380/2"})) is None
    for bad in ("postgres://h/db", "redis:h:6379", "memory"):
        with pytest.raises(ConfigError, match="^state: "):
            Config.from_values({"state": bad})
    with pytest.raises(ConfigError, match="^lease_time: "):
        Config.from_values({"lease_time": "200ms"})

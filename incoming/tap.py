"""``twistd incoming``: the command line, turned into a Config and a service."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from twisted.application.service import IService
from twisted.python import usage

from incoming import __version__
from incoming.config import OPTIONS, Config, ConfigError, Option, load
from incoming.service import make_service


class Options(usage.Options):
    """Built from :data:`incoming.config.OPTIONS`; a value given here beats the config file."""

    synopsis = "[options]"
    longdesc = ("Incoming!! receives large uploads from browsers and hands them to your web "
                "application's backend. Options override the --config file; every option is "
                "explained in etc/incoming.toml.")
    optFlags = [["demo", None, "Also serve the demo web app at /."],
                ["no-demo", None, "Do not serve the demo app (where the config file says to)."]]
    optParameters = [["config", "c", None, "TOML file with options (see etc/incoming.toml)."]] + [
        [option.flag, None, None, f"{option.help} [default: {option.default_text}]"]
        for option in OPTIONS if not option.repeatable and option.name != "demo"
    ]

    def __init__(self) -> None:
        super().__init__()
        for option in OPTIONS:
            if option.repeatable:
                self[option.flag] = []

    def parseOptions(self, options: list[str] | None = None) -> None:
        """As usage.Options does, but an unknown or incomplete option ends the start with one
        line, like a bad value (twistd would print its whole usage text first)."""
        try:
            super().parseOptions(options)
        except usage.UsageError as e:
            sys.stderr.write(f"incoming: {e} (twistd incoming --help lists the options)\n")
            sys.exit(2)

    def postOptions(self) -> None:
        if self["demo"] and self["no-demo"]:
            raise usage.UsageError("--demo and --no-demo contradict each other")

    def opt_version(self) -> None:
        print(f"incoming {__version__}")
        sys.exit(0)

    def overrides(self) -> dict[str, Any]:
        """The options given on the command line, by their config names."""
        given: dict[str, Any] = {}
        for option in OPTIONS:
            value = self.get(option.flag)
            if option.repeatable:
                value = self[option.flag] or None
            elif option.name == "demo":
                value = True if self["demo"] else False if self["no-demo"] else None
            if value is not None:
                given[option.name] = value
        return given


def _repeatable(option: Option) -> Callable[[Options, str], None]:
    def add(self: Options, value: str) -> None:
        self[option.flag].append(value)
    add.__doc__ = f"{option.help} [default: {option.default_text}]"
    return add


for _option in OPTIONS:
    if _option.repeatable:  # usage.Options finds repeatable flags as opt_ methods
        setattr(Options, "opt_" + _option.name, _repeatable(_option))


def _log_file(options: Options) -> Any:
    """Where twistd was told to log (``--logfile``), for JSON lines; None: standard output."""
    twistd = getattr(options, "parent", None) or {}
    path = twistd.get("logfile") or ("" if twistd.get("nodaemon") else "twistd.log")
    if not path or path == "-":
        return None
    return open(path, "a", encoding="utf-8")  # noqa: SIM115 — open for the process's life


def makeService(options: Options) -> IService:
    from twisted.internet import reactor

    try:
        config: Config = load(options["config"], options.overrides())
        return make_service(config, reactor, log_to=_log_file(options))
    except ConfigError as e:
        # One line naming the option, no traceback: it is the operator's to fix.
        sys.stderr.write(f"incoming: bad configuration: {e}\n")
        sys.exit(2)

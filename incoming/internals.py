"""The one place that relies on Twisted's and Autobahn's internals, checked at start-up.

The fast receive path (docs/performance.rst) goes below both libraries'
public APIs:

- **socket reads**: for each binary frame, the upload protocol replaces the
  TCP transport's ``doRead`` and reads the payload with ``socket.recv_into``
  straight into storage's buffers, then tells Autobahn the frame ended as its
  own parser would (``current_frame``, ``data``, ``onFrameEnd``);
- **unmasking in storage**: Autobahn's per-frame masker is swapped
  (``current_frame_masker``) for one that leaves payloads masked, and
  storage unmasks them in place with Autobahn's compiled NVX routine
  (``XorMaskerNvx``: ``lib.nvx_xormask_process``, ``_masker``, ``ffi``).

A new release of either library could rename any of these. :func:`probe`
checks each one on the versions actually installed, once, before the server
listens; whatever fails to check out is turned off, and the public-API path
(Autobahn reads, Autobahn unmasks) carries the uploads instead, more slowly
but correctly. The server logs which path is active. ``setup.py`` pins the
versions this was proven on.
"""

from __future__ import annotations

from importlib.metadata import version

import attrs
from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.internet import tcp
from twisted.logger import Logger

from incoming import unmasking

log = Logger()
PROVEN_ON = {"Twisted": "26.10", "autobahn": "26.10"}
"""Minor versions the fast path was proven on (setup.py's upper bounds follow them)."""


@attrs.frozen
class FastPath:
    """Which parts of the fast receive path this process uses."""

    socket_reads: bool
    unmask_in_storage: bool
    why_not: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"socket reads {'on' if self.socket_reads else 'off'}",
                 f"unmasking in storage {'on' if self.unmask_in_storage else 'off'}"]
        text = ", ".join(parts)
        return text + (f" ({'; '.join(self.why_not)})" if self.why_not else "")


OFF = FastPath(socket_reads=False, unmask_in_storage=False, why_not=("turned off",))


def probe(wanted: bool = True) -> FastPath:
    """Check each internal the fast path uses; what does not check out is off."""
    if not wanted:
        return OFF
    why: list[str] = []
    unmask = _nvx_works(why)
    reads = _socket_reads_possible(why) and unmask  # landed bytes stay masked: needs both
    return FastPath(socket_reads=reads, unmask_in_storage=unmask, why_not=tuple(why))


def _nvx_works(why: list[str]) -> bool:
    """Autobahn's compiled masker exists and unmasks a sample exactly (its Python module
    imports even where the compiled part is missing: only using it tells)."""
    masker_class = unmasking.XorMaskerNvx
    if masker_class is None:
        why.append("Autobahn's compiled masker is missing")
        return False
    try:
        key, sample = b"\x01\x02\x03\x04", bytearray(b"\x10\x20\x30\x40\x50")
        masker = masker_class(key)
        masker.lib.nvx_xormask_process(masker._masker,
                                       masker.ffi.from_buffer("uint8_t[]", sample), len(sample))
    except Exception as e:  # noqa: BLE001 — any failure: let Autobahn unmask
        why.append(f"Autobahn's masker internals changed ({type(e).__name__})")
        return False
    if bytes(sample) != bytes(b ^ key[i % 4] for i, b in enumerate(b"\x10\x20\x30\x40\x50")):
        why.append("Autobahn's masker gave a wrong result")
        return False
    return True


def _socket_reads_possible(why: list[str]) -> bool:
    """Twisted's TCP transport and Autobahn's frame parser still have what the protocol
    reads and calls."""
    missing = [f"tcp.Connection.{name}" for name in ("doRead", "bufferSize")
               if not hasattr(tcp.Connection, name)]
    missing += [f"WebSocketServerProtocol.{name}" for name in ("onFrameEnd", "processData")
                if not hasattr(WebSocketServerProtocol, name)]
    if missing:
        why.append("missing " + ", ".join(missing))
        return False
    return True


def versions() -> str:
    return ", ".join(f"{name} {version(name)}" for name in PROVEN_ON)


def report(path: FastPath) -> None:
    """One line at start-up: which receive path carries the uploads, on which versions."""
    proven = all(version(name).startswith(minor) for name, minor in PROVEN_ON.items())
    log.info("receive path: {path} ({versions}{note})", path=path.describe(),
             versions=versions(), note="" if proven else "; not the versions it was proven on",
             event="receive_path")



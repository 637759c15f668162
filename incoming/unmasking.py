"""Unmasking client frames with one copy instead of Autobahn's three.

Browsers mask every frame they send (RFC 6455 §5.3). Autobahn's NVX masker
allocates a zeroed buffer, copies the payload in, XORs it, and copies it out
again into ``bytes``: for upload traffic that is three passes over every byte
on the reactor thread (PERF-NOTES.md). This masker copies the payload once
into a ``bytearray`` and XORs it there with the same C routine, which releases
the GIL. Storage accepts any bytes-like object, so nothing else changes.

Autobahn's compiled extension is optional; without it (or if its internals
change) :func:`in_place_unmasker` returns None and Autobahn's own masker stays.
"""

from __future__ import annotations

from typing import Any

try:
    from autobahn.nvx._xormasker import XorMaskerNvx
except ImportError:  # autobahn built without its C extension
    XorMaskerNvx = None


if XorMaskerNvx is not None:

    class _InPlaceUnmasker(XorMaskerNvx):  # type: ignore[misc, valid-type]
        # Autobahn asks pointer() after every read: counted here, not by a call into C.
        __slots__ = ("_done",)

        def __init__(self, mask: bytes) -> None:
            super().__init__(mask)
            self._done = 0

        def pointer(self) -> int:
            return self._done

        def process(self, data: bytes) -> bytearray:
            buffer = bytearray(data)
            self.lib.nvx_xormask_process(self._masker, self.ffi.from_buffer("uint8_t[]", buffer),
                                         len(buffer))
            self._done += len(buffer)
            return buffer


def in_place_unmasker(mask: bytes) -> Any:
    """A masker for one frame with this 4-byte mask, or None to keep Autobahn's."""
    if XorMaskerNvx is None:
        return None
    try:
        return _InPlaceUnmasker(mask)
    except Exception:  # noqa: BLE001 — a changed Autobahn must not break uploads
        return None

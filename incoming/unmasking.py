"""Unmasking client frames where it costs least: in storage's intake thread, in place.

Browsers mask every frame they send (RFC 6455 §5.3). Autobahn unmasks each
payload on the reactor thread into fresh memory. Instead, binary payloads stay
masked until storage takes them in: the protocol receives them straight into
its landing buffers (``storage/direct.py``), or, where Autobahn parsed them,
Autobahn gets a masker that unmasks nothing (:class:`PassThroughMasker`) and
the protocol puts them into the landing. Either way they travel as
:class:`MaskedBytes`, and the intake thread unmasks them where they lie, with
Autobahn's C routine (which releases the GIL), right before hashing them while
they are in the CPU's cache. Text messages are few and small: Autobahn
unmasks those.

Autobahn's compiled extension is optional; without it (or if its internals
change) :func:`pass_through_masker` returns None and Autobahn's own masker stays.
"""

from __future__ import annotations

from typing import Any

from incoming.storage.direct import memory_address


def _nvx_masker() -> Any:
    """Autobahn's C masker class, if it works here (its Python module imports even where
    the compiled part is missing: only making one tells)."""
    try:
        from autobahn.nvx._xormasker import XorMaskerNvx

        XorMaskerNvx(b"\0\0\0\0")
    except Exception:  # noqa: BLE001 — any failure means: let Autobahn unmask
        return None
    return XorMaskerNvx


XorMaskerNvx = _nvx_masker()
"""Autobahn's C masker class, or None (``incoming/internals.py`` decides whether to use it)."""


class MaskedBytes:
    """Payload bytes as they came from the client, with the mask that uncovers them.

    ``key`` is already turned so that its first byte applies to the first byte of ``data``.
    This is what storage calls a piece: it knows its length, how to copy itself out
    (unmasked) and how to cut itself into parts that still know.
    """

    __slots__ = ("data", "key")

    def __init__(self, data: Any, key: bytes) -> None:
        self.data = data
        self.key = key

    def __len__(self) -> int:
        return len(self.data)

    def cut(self, start: int, end: int) -> MaskedBytes:
        return MaskedBytes(memoryview(self.data)[start:end], turned(self.key, start))

    def copy_into(self, target: memoryview) -> None:
        """Write the unmasked bytes into ``target`` (exactly as long); if the bytes already
        lie there (received straight into storage's buffers), just unmask them in place."""
        if memory_address(self.data) != memory_address(target):
            target[:] = self.data
        masker = XorMaskerNvx(self.key)
        masker.lib.nvx_xormask_process(masker._masker,
                                       masker.ffi.from_buffer("uint8_t[]", target), len(target))

    def moved_to(self, views: list[memoryview]) -> list[MaskedBytes]:
        """The same bytes, copied (as they are) into ``views`` one after another."""
        pieces, done = [], 0
        for view in views:
            pieces.append(MaskedBytes(view, turned(self.key, done)))
            done += len(view)
        return pieces


class PassThroughMasker:
    """Autobahn's masker interface (``pointer``, ``process``) for one frame, unmasking
    nothing: ``process`` hands the bytes on as :class:`MaskedBytes`."""

    __slots__ = ("_key", "_done")

    def __init__(self, mask: bytes) -> None:
        self._key = bytes(mask)
        self._done = 0

    def pointer(self) -> int:
        return self._done

    def process(self, data: bytes) -> MaskedBytes:
        piece = MaskedBytes(data, turned(self._key, self._done))
        self._done += len(data)
        return piece


def pass_through_masker(mask: bytes) -> PassThroughMasker | None:
    """A masker for one binary frame with this 4-byte mask, or None to keep Autobahn's."""
    if XorMaskerNvx is None or len(mask) != 4:
        return None
    return PassThroughMasker(mask)


def turned(key: bytes, offset: int) -> bytes:
    """The key as it applies from ``offset`` bytes into the payload."""
    turn = offset % 4
    return key[turn:] + key[:turn]

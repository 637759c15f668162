"""A SHA-256 whose state can be saved and restored, so that another process continues it.

An upload to object storage may be continued by another instance, or after a
restart, from its last completed part; the parts of an unfinished multipart
upload cannot be read back to hash them again. So the hash state at the end of
each part is saved with it. ``hashlib`` objects cannot be pickled, and the
``rehash`` package, which makes them picklable, refuses OpenSSL 3 ("not yet
supported"). This module calls the OpenSSL that ``hashlib`` itself uses
(through ``_hashlib``'s shared object) with its low-level ``SHA256_Init`` /
``SHA256_Update`` / ``SHA256_Final``, whose ``SHA256_CTX`` is a public
structure of plain integers: its bytes are the state. OpenSSL 3 deprecates
these functions but still exports them; :func:`check` proves at start-up that
they answer as ``hashlib`` does. ``ctypes`` releases the GIL during each call,
so hashing in a pool thread holds up nobody.
"""

from __future__ import annotations

import base64
import ctypes
import functools
import hashlib
from typing import Any

_MAGIC = b"sha256ctx1:"


class _Context(ctypes.Structure):
    """OpenSSL's ``SHA256_CTX`` (openssl/sha.h): unchanged from 0.9.8 to 3.x."""

    _fields_ = [
        ("h", ctypes.c_uint32 * 8),
        ("Nl", ctypes.c_uint32),
        ("Nh", ctypes.c_uint32),
        ("data", ctypes.c_uint32 * 16),
        ("num", ctypes.c_uint),
        ("md_len", ctypes.c_uint),
    ]


class HashStateError(Exception):
    """The saved state is not one this module wrote, or OpenSSL lacks the functions."""


@functools.cache
def _openssl() -> Any:
    try:
        import _hashlib  # the OpenSSL binding hashlib uses: its libcrypto, not another one
        library = ctypes.CDLL(_hashlib.__file__)
        functions = library.SHA256_Init, library.SHA256_Update, library.SHA256_Final
    except (ImportError, OSError, AttributeError) as e:
        raise HashStateError(f"OpenSSL's SHA256_Init/Update/Final are not available: {e}") from e
    init, update, final = functions
    init.argtypes = [ctypes.POINTER(_Context)]
    update.argtypes = [ctypes.POINTER(_Context), ctypes.c_void_p, ctypes.c_size_t]
    final.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Context)]
    return library


class ResumableSha256:
    """``update`` and ``hexdigest`` like ``hashlib.sha256()``, plus :meth:`state` (bytes, the
    whole state) and :meth:`restore`. Not thread-safe: one thread at a time, as hashlib's."""

    def __init__(self, context: _Context | None = None) -> None:
        self._library = _openssl()
        if context is None:
            context = _Context()
            self._library.SHA256_Init(ctypes.byref(context))
        self._context = context

    def update(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        if not view.nbytes:
            return
        if view.readonly:
            view = memoryview(bytearray(view))  # a copy; pieces from a Landing are writable
        pointer = ctypes.addressof(ctypes.c_char.from_buffer(view))
        self._library.SHA256_Update(ctypes.byref(self._context), pointer, view.nbytes)

    def copy(self) -> ResumableSha256:
        return ResumableSha256(_Context.from_buffer_copy(self._context))

    def hexdigest(self) -> str:
        digest = ctypes.create_string_buffer(32)
        self._library.SHA256_Final(digest, ctypes.byref(self.copy()._context))
        return digest.raw.hex()

    def state(self) -> str:
        """The whole state as text (for a JSON manifest)."""
        return base64.b64encode(_MAGIC + bytes(self._context)).decode("ascii")

    @classmethod
    def restore(cls, state: str) -> ResumableSha256:
        try:
            raw = base64.b64decode(state.encode("ascii"), validate=True)
        except (ValueError, UnicodeError) as e:
            raise HashStateError(f"not a saved SHA-256 state: {e}") from None
        if not raw.startswith(_MAGIC) or len(raw) != len(_MAGIC) + ctypes.sizeof(_Context):
            raise HashStateError("not a saved SHA-256 state")
        return cls(_Context.from_buffer_copy(raw[len(_MAGIC):]))


def check() -> None:
    """Prove that saving, restoring and hashing agree with hashlib; raises HashStateError."""
    sample = bytes(range(256)) * 1000
    first = ResumableSha256()
    first.update(sample[:100_003])
    second = ResumableSha256.restore(first.state())
    second.update(sample[100_003:])
    if second.hexdigest() != hashlib.sha256(sample).hexdigest():
        raise HashStateError("OpenSSL's SHA256_CTX is not laid out as expected")

"""The C library's functions that Python's ``os`` module does not offer, where there are any.

Each lookup gives None where the platform lacks the function (not Linux, not
glibc): the callers then do without the tuning it would have bought.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def function(name: str, *argtypes: Any) -> Any:
    """``name`` from the C library with these argument types, or None."""
    call = getattr(_libc(), name, None)
    if call is not None and argtypes:
        call.argtypes = list(argtypes)
    return call

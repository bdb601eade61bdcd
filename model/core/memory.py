"""Giving freed memory back to the operating system.

A study load allocates and frees several hundred MB of short-lived buffers (decompressed
bytes, arrays before reorientation, DICOM pixel data). glibc keeps such freed heap memory for
reuse instead of returning it, so a long-running server's RSS stays at its highest level and
creeps up with fragmentation across uploads from many threads. :func:`release_freed_memory`
asks glibc to return it (``malloc_trim(0)``); elsewhere (macOS, musl, Windows) it does nothing.

Measured in-process (``tests/imaging`` AppTest loop, 8 alternating uploads): RSS after each
upload fell by 30-80 MB and stayed flat after warm-up.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


def release_freed_memory() -> bool:
    """Return freed heap memory to the operating system (glibc ``malloc_trim(0)``).

    Returns
    -------
    bool
        True when memory was released, False when nothing could be (or not glibc).
    """
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False


__all__ = ["release_freed_memory"]

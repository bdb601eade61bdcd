"""Giving freed memory back to the operating system.

A study load allocates and frees several hundred MB of short-lived buffers (decompressed
bytes, arrays before reorientation, DICOM pixel data). glibc keeps such freed heap memory for
reuse instead of returning it, so a long-running server's RSS stays at its highest level and
creeps up with fragmentation across uploads from many threads. :func:`release_freed_memory`
asks glibc to return it (``malloc_trim(0)``); elsewhere (macOS, musl, Windows) it does nothing.

Measured in-process (``tests/imaging`` AppTest loop, 8 alternating uploads): RSS after each
upload fell by 30-80 MB and stayed flat after warm-up.

The server also calls :func:`fix_mmap_threshold` once. glibc serves a block from ``mmap`` (given
back to the system at ``free``) only above a threshold that it raises to the size of every
mmapped block freed, up to 32 MiB; after the first study, every buffer of a few MB (a
thick-slice volume, model activations, slice images) then lives in the heap arenas of the
session threads, and those free blocks stay resident: 230-360 MB of freed-but-held heap in
``bench.memory``, 140 MB of it not even given back by ``malloc_trim``. A fixed threshold keeps
big buffers out of the arenas (measured in ``bench/README.md``, memory section); capping the
arenas (``MALLOC_ARENA_MAX=2``) did not help there.
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


@lru_cache(maxsize=1)
def _mallopt():
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


#: glibc's ``M_MMAP_THRESHOLD`` parameter number (``<malloc.h>``).
_M_MMAP_THRESHOLD = -3
#: Blocks of this size or more come from ``mmap``: a 128 x 128 x 24 float32 model input (1.5 MB)
#: and slice images stay in the heap (fast reuse); volumes, maps and big activations do not.
MMAP_THRESHOLD_BYTES = 4 * 2**20


def fix_mmap_threshold(nbytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Serve blocks of ``nbytes`` or more from ``mmap`` for the rest of the process (glibc
    ``mallopt(M_MMAP_THRESHOLD)``; turns off glibc's sliding threshold), so that freed big
    buffers go back to the operating system at once. Same as ``MALLOC_MMAP_THRESHOLD_=nbytes``
    in the environment, which wins when set (then nothing is changed here).

    Parameters
    ----------
    nbytes : int
        Threshold in bytes (glibc accepts up to 32 MiB on 64-bit systems).

    Returns
    -------
    bool
        True when the threshold was set, False where it could not be (not glibc, or the
        environment variable is set).
    """
    import os

    fn = _mallopt()
    if fn is None or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    return bool(fn(_M_MMAP_THRESHOLD, int(nbytes)))


def release_freed_memory() -> bool:
    """Return freed heap memory to the operating system (glibc ``malloc_trim(0)``).

    Returns
    -------
    bool
        True when memory was released, False when nothing could be (or not glibc).
    """
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False


__all__ = ["MMAP_THRESHOLD_BYTES", "fix_mmap_threshold", "release_freed_memory"]

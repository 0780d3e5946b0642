"""Keep freed memory in the process for the next batch (glibc only).

Every batch allocates the same large activations again (tens of MB each). glibc serves
blocks that large with mmap and returns them to the kernel on free, so every batch pays
for zeroing fresh pages again: about a tenth of the CPU time at vox-256. Telling malloc to
use its heap for them and not to trim it keeps those pages mapped; peak memory is the same,
it is just not given back between batches.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger("fomm")

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_KEEP_BYTES = 1 << 30
_tuned = False


def keep_freed_memory() -> bool:
    """Tune glibc malloc once per process; False where there is no glibc (nothing changed)."""
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    if not (mallopt(_M_MMAP_MAX, 0) and mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES)):
        log.debug("mallopt refused; memory allocation left as it is")
        return False
    _tuned = True
    return True

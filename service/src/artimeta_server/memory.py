"""glibc malloc settings for a server that moves large buffers.

By default glibc raises its mmap threshold after a large buffer is freed, so later multi-MiB
buffers (upload parts, download chunks) come from the heap and stay in RSS as fragmentation,
and every thread may get its own arena. Pinning the threshold and capping arenas keeps the
server's memory flat under streaming; without glibc this does nothing."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("artimeta.memory")

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_malloc(mmap_threshold: int = 256 * 1024, arena_max: int = 2) -> bool:
    path = ctypes.util.find_library("c")
    if path is None:
        return False
    try:
        libc = ctypes.CDLL(path)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_ARENA_MAX, arena_max))
    if not ok:
        log.debug("mallopt refused the settings")
    return ok

"""sha256 of large inputs off the event loop.

Messages of up to 64 MiB (batch items, upload chunks, documents and cache values) are hashed as
they pass; at ≈ 1 GB/s that is up to ≈ 60 ms during which the loop answers nobody. hashlib
releases the GIL while it hashes more than 2047 bytes, so a large input goes to a small pool of
threads of its own and the loop serves other calls meanwhile. The pool is small on purpose: it
also bounds how much hashing runs at once (with 2 cores, more threads only take turns), and a
caller waits for its turn instead of taking the loop. Small inputs are hashed in line: for them
the hop to a thread costs more than the hash."""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from artimeta_server.domain.digests import Digest

# Below this, hashing in line (≈ 0.2 ms at 1 GB/s) is cheaper than the hop to a thread.
OFFLOAD_BYTES = 256 * 1024
DEFAULT_THREADS = 2

_pool: ThreadPoolExecutor | None = None
_threads = DEFAULT_THREADS


def configure(threads: int) -> None:
    """Sets the size of the hashing pool (ARTIMETA_HASH_THREADS); takes effect for a new pool."""
    global _pool, _threads
    if threads < 1:
        raise ValueError("threads must be >= 1")
    if _pool is not None and threads != _threads:
        _pool.shutdown(wait=False)
        _pool = None
    _threads = threads


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="sha256")
    return _pool


async def update(hasher: Any, data: bytes | memoryview) -> None:
    """hasher.update(data), in the hashing pool when `data` is large."""
    if len(data) < OFFLOAD_BYTES:
        hasher.update(data)
        return
    await asyncio.get_running_loop().run_in_executor(_executor(), hasher.update, data)


async def sha256_hex(data: bytes | memoryview) -> str:
    if len(data) < OFFLOAD_BYTES:
        return hashlib.sha256(data).hexdigest()
    return await asyncio.get_running_loop().run_in_executor(_executor(), _hex, data)


async def digest_of(data: bytes | memoryview) -> Digest:
    return Digest(await sha256_hex(data), len(data))


def _hex(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()

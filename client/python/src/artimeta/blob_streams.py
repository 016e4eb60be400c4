"""Byte streams under the blob helpers: chunking and rechunking, the download check and
background hashing, presigned-URL HTTP transfers, and the raw Download payload decoder."""

from __future__ import annotations

import asyncio
import hashlib
import io
import mmap
import os
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from typing import (
    Any,
    AsyncIterable,
    AsyncIterator,
    BinaryIO,
    Iterable,
    Iterator,
    List,
    Optional,
    Union,
)

from artimeta.blob_types import READ_CHUNK, Digest, Progress
from artimeta.errors import DataLoss, FailedPrecondition


def _unlink_if_there(path: str) -> None:
    if os.path.exists(path):
        os.unlink(path)


async def _aiter(chunks: Union[Iterable[bytes], AsyncIterable[bytes]]) -> AsyncIterator[bytes]:
    if isinstance(chunks, AsyncIterable):
        async for block in chunks:
            yield block
    else:
        for block in chunks:
            yield block


async def _read_chunks_async(f: Union[BinaryIO, io.BufferedIOBase]) -> AsyncIterator[bytes]:
    while True:
        block = await asyncio.to_thread(f.read, READ_CHUNK)
        if not block:
            return
        yield block


def http_put(url: str, data: bytes) -> None:
    request = urllib.request.Request(url, data=data, method="PUT")
    with urllib.request.urlopen(request, timeout=300) as resp:
        if resp.status >= 300:
            raise FailedPrecondition(f"presigned PUT answered {resp.status}", reason="PRESIGNED_PUT_FAILED")


def http_put_file(url: str, path: Union[str, os.PathLike[str]], size: int, *, timeout: float) -> None:
    """PUTs a file to a presigned URL. A view of a memory map goes out in one sendall (a file
    object, or the map itself, would go in 8 KiB writes) and is paged in as it is sent, never
    copied whole."""
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        body: Any = memoryview(mapped) if mapped is not None else b""
        try:
            request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Length": str(size)})
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                if resp.status >= 300:
                    raise FailedPrecondition(f"presigned PUT answered {resp.status}", reason="PRESIGNED_PUT_FAILED")
        finally:
            if mapped is not None:
                body.release()
                mapped.close()


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=300) as resp:
        data: bytes = resp.read()
        return data


class _DownloadCheck:
    """What the sync and asyncio downloads do with each chunk: count it, report progress and, on
    a whole-blob download, hash it on another thread; finish() raises DataLoss when the bytes are
    not the blob's, so corruption anywhere on the way is never silent."""

    def __init__(self, digest: Digest, offset: int, length: int, progress: Optional[Progress], verify: bool) -> None:
        self.digest = digest
        self.expected = digest.size - offset if length == 0 else min(length, digest.size - offset)
        self.progress = progress
        self.hasher = _BackgroundHash() if (verify and offset == 0 and length == 0) else None
        self.done = 0

    def take(self, data: bytes) -> None:
        if self.hasher is not None:
            self.hasher.update(data)
        self._count(data)

    async def take_async(self, data: bytes) -> None:
        if self.hasher is not None:
            await self.hasher.update_async(data)
        self._count(data)

    def _count(self, data: bytes) -> None:
        self.done += len(data)
        if self.progress is not None:
            self.progress(self.done, self.expected)

    def finish(self) -> None:
        self._check(self.hasher.hexdigest() if self.hasher is not None else None)

    async def finish_async(self) -> None:
        self._check(await self.hasher.hexdigest_async() if self.hasher is not None else None)

    def _check(self, actual: Optional[str]) -> None:
        if actual is not None and (self.done != self.digest.size or actual != self.digest.hash):
            raise DataLoss(f"downloaded bytes do not match {self.digest}", reason="DIGEST_MISMATCH")
        if self.progress is not None and self.done == 0:
            self.progress(0, self.expected)

    def close(self) -> None:
        if self.hasher is not None:
            self.hasher.close()


class _BackgroundHash:
    """sha256 fed from another thread (hashlib releases the GIL on large buffers), so hashing
    overlaps with receiving; at most two chunks wait."""

    def __init__(self) -> None:
        self._hasher = hashlib.sha256()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="artimeta-hash")
        self._pending: List[Future[None]] = []

    def update(self, data: bytes) -> None:
        if len(self._pending) >= 2:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._hasher.update, data))

    async def update_async(self, data: bytes) -> None:
        """update() for an event loop: waits for the hashing thread without blocking the loop."""
        if len(self._pending) >= 2:
            await asyncio.wrap_future(self._pending.pop(0))
        self._pending.append(self._pool.submit(self._hasher.update, data))

    def hexdigest(self) -> str:
        for f in self._pending:
            f.result()
        self._pending.clear()
        return self._hasher.hexdigest()

    async def hexdigest_async(self) -> str:
        for f in self._pending:
            await asyncio.wrap_future(f)
        self._pending.clear()
        return self._hasher.hexdigest()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _read_chunks(f: Union[BinaryIO, io.BufferedIOBase]) -> Iterator[bytes]:
    while True:
        block = f.read(READ_CHUNK)
        if not block:
            return
        yield block


class _Rechunker:
    """Cuts blocks of any sizes into blocks of exactly `size` bytes (the last may be shorter)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pending: List[bytes] = []
        self._held = 0

    def feed(self, block: bytes) -> List[bytes]:
        if not block:
            return []
        if not self._pending and len(block) == self.size:
            return [bytes(block)]
        self._pending.append(bytes(block))
        self._held += len(block)
        out: List[bytes] = []
        while self._held >= self.size:
            joined = b"".join(self._pending)
            out.append(joined[: self.size])
            rest = joined[self.size :]
            self._pending = [rest] if rest else []
            self._held = len(rest)
        return out

    def flush(self) -> bytes:
        tail = b"".join(self._pending)
        self._pending, self._held = [], 0
        return tail


def _rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Blocks of exactly `size` bytes (the last may be shorter), whatever the input's blocks are."""
    rechunk = _Rechunker(size)
    for block in chunks:
        yield from rechunk.feed(block)
    tail = rechunk.flush()
    if tail:
        yield tail

"""Bytes through BlobService: streaming upload and download (files, iterators), small-blob
batches, presigned transfers and keyed objects, with progress callbacks.

    from artimeta import Client
    from artimeta.blobs import Blobs

    with Client("127.0.0.1:50051") as client:
        blobs = Blobs(client, "team-a")
        digest = blobs.upload_file("model.bin", progress=lambda done, total: print(done, total))
        blobs.download_to_file(digest, "copy.bin")
        blobs.put_object("models/latest", b"...")
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import mmap
import os
import threading
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import (
    Any,
    AsyncIterable,
    AsyncIterator,
    BinaryIO,
    Callable,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import grpc
from google.rpc import error_details_pb2, status_pb2

from artimeta.client import AsyncClient, Client
from artimeta.errors import _BY_CODE, ArtimetaError, DataLoss, FailedPrecondition, from_rpc_error
from artimeta.v1 import blobs_pb2 as pb
from artimeta.v1 import blobs_pb2_grpc, digest_pb2

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes in total; -1 when unknown) as a transfer moves."""

READ_CHUNK = 1024 * 1024
UPLOAD_CHUNK = 1024 * 1024
# Blobs up to this size travel in batches rather than one stream each.
SMALL_BLOB = 1024 * 1024


@dataclass(frozen=True)
class Digest:
    """sha256 + size: how every blob is addressed."""

    hash: str
    size: int

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls(hashlib.sha256(data).hexdigest(), len(data))

    @classmethod
    def of_file(cls, path: Union[str, os.PathLike[str]]) -> Digest:
        h = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            while True:
                block = f.read(READ_CHUNK)
                if not block:
                    break
                h.update(block)
                size += len(block)
        return cls(h.hexdigest(), size)

    @classmethod
    def from_proto(cls, msg: digest_pb2.Digest) -> Digest:
        return cls(msg.hash, msg.size_bytes)

    def to_proto(self) -> digest_pb2.Digest:
        return digest_pb2.Digest(hash=self.hash, size_bytes=self.size)

    def __str__(self) -> str:
        return f"{self.hash}/{self.size}"


@dataclass(frozen=True)
class Capabilities:
    max_message_bytes: int
    chunk_size_bytes: int
    max_batch_items: int
    max_batch_total_bytes: int
    max_blob_bytes: int
    max_find_missing_items: int
    presigned_urls: bool


@dataclass(frozen=True)
class KeyEntry:
    key: str
    digest: Digest


class ItemError(ArtimetaError):
    """One item of a batch failed; `index` says which."""

    def __init__(self, index: int, error: ArtimetaError) -> None:
        super().__init__(f"item {index}: {error}")
        self.index = index
        self.error = error
        self.reason = error.reason


def _item_error(status: status_pb2.Status) -> Optional[ArtimetaError]:
    """The typed error a per-item google.rpc.Status stands for, None when OK."""
    if status.code == 0:
        return None
    reason, meta = "", {}
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reason, meta = info.reason, dict(info.metadata)
    code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
    cls = _BY_CODE.get(code, ArtimetaError)
    return cls(status.message, code=code, reason=reason or code.name, metadata=meta)


_CODES = {c.value[0]: c for c in grpc.StatusCode}


class Blobs:
    """BlobService for one namespace, on a blocking `artimeta.Client`."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self._caps: Optional[Capabilities] = None
        self._lock = threading.Lock()

    @property
    def _stub(self) -> blobs_pb2_grpc.BlobServiceStub:
        return self.client.stub(blobs_pb2_grpc.BlobServiceStub)

    def _transfer_timeout(self, size: int) -> float:
        return _transfer_timeout(self.client.timeout, size)

    def capabilities(self) -> Capabilities:
        with self._lock:
            if self._caps is None:
                self._caps = _capabilities(self.client.call(self._stub.GetCapabilities, pb.GetCapabilitiesRequest()))
            return self._caps

    # -- streaming upload ---------------------------------------------------------------------

    def upload_iter(
        self,
        chunks: Iterable[bytes],
        *,
        digest: Optional[Digest] = None,
        total: int = -1,
        progress: Optional[Progress] = None,
    ) -> Digest:
        """Streams bytes from an iterator. With `digest` known up front, an existing blob is not
        sent at all; otherwise the digest is computed on the way and sent in the last message."""
        frames = _UploadFrames(self.namespace, digest, total, progress, self.capabilities())

        def requests() -> Iterator[pb.UploadRequest]:
            rechunk = _Rechunker(frames.chunk_size)
            for block in chunks:
                for piece in rechunk.feed(block):
                    yield frames.message(piece)
                    frames.sent()
            tail = rechunk.flush()
            if tail:
                yield frames.message(tail)
                frames.sent()
            last = frames.last()
            if last is not None:
                yield last

        try:
            resp = self._stub.Upload(
                requests(), timeout=frames.timeout(self.client.timeout), metadata=self.client._metadata
            )
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        return frames.result(resp)

    def upload_file(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        progress: Optional[Progress] = None,
        digest: Optional[Digest] = None,
    ) -> Digest:
        """Hashes the file first (so a blob the server has is never sent), then streams it."""
        digest = digest or Digest.of_file(path)
        with open(path, "rb") as f:
            return self.upload_iter(_read_chunks(f), digest=digest, progress=progress)

    def upload_stream(self, stream: BinaryIO, *, progress: Optional[Progress] = None) -> Digest:
        """Streams a readable binary object to its end (its digest is computed on the way)."""
        return self.upload_iter(_read_chunks(stream), progress=progress)

    def put_bytes(self, data: bytes) -> Digest:
        """Stores bytes; small ones in one unary call, large ones streamed."""
        digest = Digest.of(data)
        caps = self.capabilities()
        if _fits_a_batch(caps, len(data)):
            self.batch_update([data])
            return digest
        return self.upload_iter(_slices(data, caps), digest=digest)

    # -- streaming download ---------------------------------------------------------------------

    def download(
        self,
        digest: Digest,
        *,
        offset: int = 0,
        length: int = 0,
        progress: Optional[Progress] = None,
        verify: bool = True,
    ) -> Iterator[bytes]:
        """Yields the blob (or a range of it) chunk by chunk. A whole-blob download is checked
        against its digest at the end (DataLoss on a mismatch) unless verify is False; the hash
        runs on another thread, beside the receiving one."""
        check = _DownloadCheck(digest, offset, length, progress, verify)
        request = _download_request(self.namespace, digest, offset, length)
        method = self.client.stub(_DownloadStub).Download
        try:
            for data in self.client.stream(method, request, timeout=self._transfer_timeout(digest.size)):
                check.take(data)
                yield data
            check.finish()
        finally:
            check.close()

    def download_to_file(
        self, digest: Digest, path: Union[str, os.PathLike[str]], *, progress: Optional[Progress] = None
    ) -> None:
        """Writes the verified blob to `path` (through a temporary file, renamed at the end)."""
        tmp = f"{os.fspath(path)}.part-{os.getpid()}-{threading.get_ident()}"
        try:
            with open(tmp, "wb") as f:
                for chunk in self.download(digest, progress=progress):
                    f.write(chunk)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get_bytes(self, digest: Digest) -> bytes:
        if _fits_a_batch(self.capabilities(), digest.size):
            return self.batch_read([digest])[0]
        return b"".join(self.download(digest))

    # -- presence, batches, delete ------------------------------------------------------------------

    def find_missing(self, digests: Sequence[Digest]) -> List[Digest]:
        missing: List[Digest] = []
        for req in _find_missing_requests(self.namespace, digests, self.capabilities()):
            missing += [
                Digest.from_proto(d) for d in self.client.call(self._stub.FindMissingBlobs, req).missing_digests
            ]
        return missing

    def exists(self, digest: Digest) -> bool:
        return not self.find_missing([digest])

    def stat(self, digest: Digest) -> pb.StatBlobResponse:
        return self.client.call(
            self._stub.StatBlob, pb.StatBlobRequest(namespace=self.namespace, digest=digest.to_proto())
        )

    def batch_update(self, items: Sequence[bytes]) -> List[Digest]:
        """Stores many small blobs, batched to the server's limits; raises ItemError for the first
        item that failed (the others are stored)."""
        digests = [Digest.of(d) for d in items]
        for start, req in _update_requests(self.namespace, items, digests, self.capabilities()):
            _raise_item_errors(start, self.client.call(self._stub.BatchUpdateBlobs, req).results)
        return digests

    def batch_read(self, digests: Sequence[Digest]) -> List[bytes]:
        """The bytes of many small blobs; raises ItemError (e.g. NotFound) for the first missing one."""
        out: List[bytes] = []
        for start, req in _read_requests(self.namespace, digests, self.capabilities()):
            results = self.client.call(self._stub.BatchReadBlobs, req).results
            _raise_item_errors(start, results)
            out += [r.data for r in results]
        return out

    def delete(self, digest: Digest, *, force: bool = False) -> bool:
        req = pb.DeleteBlobRequest(namespace=self.namespace, digest=digest.to_proto(), force=force)
        return self.client.call(self._stub.DeleteBlob, req).deleted

    # -- presigned ----------------------------------------------------------------------------------

    def upload_via_url(self, data: bytes, *, expires_in_s: int = 0) -> Digest:
        """Uploads straight to S3 with a presigned PUT, then has the server verify and commit it."""
        digest = Digest.of(data)
        req = pb.CreateUploadUrlRequest(
            namespace=self.namespace, digest=digest.to_proto(), expires_in_seconds=expires_in_s
        )
        up = self.client.call(self._stub.CreateUploadUrl, req)
        if up.already_present:
            return digest
        http_put(up.url, data)
        self.client.call(
            self._stub.CommitUpload, pb.CommitUploadRequest(namespace=self.namespace, upload_id=up.upload_id)
        )
        return digest

    def upload_file_direct(
        self, path: Union[str, os.PathLike[str]], *, digest: Optional[Digest] = None, expires_in_s: int = 0
    ) -> Digest:
        """Streams a file straight to S3 through a presigned PUT (the bytes bypass the server),
        then has the server verify and commit it."""
        digest = digest or Digest.of_file(path)
        req = pb.CreateUploadUrlRequest(
            namespace=self.namespace, digest=digest.to_proto(), expires_in_seconds=expires_in_s
        )
        up = self.client.call(self._stub.CreateUploadUrl, req)
        if up.already_present:
            return digest
        with open(path, "rb") as f:
            # A view of a memory map goes out in one sendall (a file object, or the map itself,
            # would go in 8 KiB writes) and is paged in as it is sent, never copied whole.
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if digest.size else None
            body: Any = memoryview(mapped) if mapped is not None else b""
            try:
                request = urllib.request.Request(
                    up.url, data=body, method="PUT", headers={"Content-Length": str(digest.size)}
                )
                with urllib.request.urlopen(request, timeout=self._transfer_timeout(digest.size)) as resp:
                    if resp.status >= 300:
                        raise FailedPrecondition(f"presigned PUT answered {resp.status}", reason="PRESIGNED_PUT_FAILED")
            finally:
                if mapped is not None:
                    body.release()
                    mapped.close()
        commit = pb.CommitUploadRequest(namespace=self.namespace, upload_id=up.upload_id)
        self.client.call(self._stub.CommitUpload, commit, timeout=self._transfer_timeout(digest.size))
        return digest

    def download_direct(self, digest: Digest, *, verify: bool = True) -> Iterator[bytes]:
        """Streams a blob straight from S3 through a presigned GET (the bytes bypass the
        server), checked against its digest at the end unless verify is False."""
        url = self.download_url(digest)
        hasher = _BackgroundHash() if verify else None
        done = 0
        try:
            with urllib.request.urlopen(url, timeout=self._transfer_timeout(digest.size)) as resp:
                while True:
                    block = resp.read(4 * READ_CHUNK)
                    if not block:
                        break
                    if hasher is not None:
                        hasher.update(block)
                    done += len(block)
                    yield block
            if hasher is not None and (done != digest.size or hasher.hexdigest() != digest.hash):
                raise DataLoss(f"downloaded bytes do not match {digest}", reason="DIGEST_MISMATCH")
        finally:
            if hasher is not None:
                hasher.close()

    def download_url(self, digest: Digest, *, expires_in_s: int = 0) -> str:
        req = pb.CreateDownloadUrlRequest(
            namespace=self.namespace, digest=digest.to_proto(), expires_in_seconds=expires_in_s
        )
        return self.client.call(self._stub.CreateDownloadUrl, req).url

    # -- keyed objects ----------------------------------------------------------------------------------

    def put_object(self, key: str, data: bytes) -> Digest:
        """Stores bytes under a key, replacing what the key held."""
        digest = self.put_bytes(data)
        self.set_key(key, digest)
        return digest

    def set_key(self, key: str, digest: Digest) -> Optional[Digest]:
        """Points `key` at an existing blob; returns what it pointed at before."""
        resp = self.client.call(
            self._stub.PutKey, pb.PutKeyRequest(namespace=self.namespace, key=key, digest=digest.to_proto())
        )
        return Digest.from_proto(resp.previous_digest) if resp.HasField("previous_digest") else None

    def get_object(self, key: str) -> bytes:
        """The bytes under `key`; raises artimeta.NotFound (reason KEY_NOT_FOUND) when absent."""
        resp = self.client.call(
            self._stub.GetKey, pb.GetKeyRequest(namespace=self.namespace, key=key, include_data=True)
        )
        data = _key_data(key, resp)
        return data if data is not None else b"".join(self.download(Digest.from_proto(resp.entry.digest)))

    def get_key(self, key: str) -> Digest:
        resp = self.client.call(self._stub.GetKey, pb.GetKeyRequest(namespace=self.namespace, key=key))
        return Digest.from_proto(resp.entry.digest)

    def delete_object(self, key: str, *, allow_missing: bool = False) -> bool:
        req = pb.DeleteKeyRequest(namespace=self.namespace, key=key, allow_missing=allow_missing)
        return self.client.call(self._stub.DeleteKey, req).deleted

    def list_objects(self, prefix: str = "", *, page_size: int = 0) -> Iterator[KeyEntry]:
        token = ""
        while True:
            req = pb.ListKeysRequest(namespace=self.namespace, prefix=prefix, page_size=page_size, page_token=token)
            page = self.client.call(self._stub.ListKeys, req)
            for e in page.entries:
                yield KeyEntry(e.key, Digest.from_proto(e.digest))
            token = page.next_page_token
            if not token:
                return


class AsyncBlobs:
    """BlobService for one namespace, on an `artimeta.AsyncClient`: the same operations as
    `Blobs`, awaited. Requests, checks and limits are shared with `Blobs`; only the calls and
    the file I/O (done in threads, never on the event loop) differ.

        async with AsyncClient("127.0.0.1:50051") as client:
            blobs = AsyncBlobs(client, "team-a")
            digest = await blobs.upload_file("model.bin")
            await blobs.download_to_file(digest, "copy.bin")
    """

    def __init__(self, client: AsyncClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self._caps: Optional[Capabilities] = None

    @property
    def _stub(self) -> blobs_pb2_grpc.BlobServiceStub:
        return self.client.stub(blobs_pb2_grpc.BlobServiceStub)

    async def capabilities(self) -> Capabilities:
        if self._caps is None:
            self._caps = _capabilities(await self.client.call(self._stub.GetCapabilities, pb.GetCapabilitiesRequest()))
        return self._caps

    # -- streaming upload ---------------------------------------------------------------------

    async def upload_iter(
        self,
        chunks: Union[Iterable[bytes], AsyncIterable[bytes]],
        *,
        digest: Optional[Digest] = None,
        total: int = -1,
        progress: Optional[Progress] = None,
    ) -> Digest:
        """Streams bytes from an iterator or an async iterator (see `Blobs.upload_iter`)."""
        frames = _UploadFrames(self.namespace, digest, total, progress, await self.capabilities())

        async def requests() -> AsyncIterator[pb.UploadRequest]:
            rechunk = _Rechunker(frames.chunk_size)
            async for block in _aiter(chunks):
                for piece in rechunk.feed(block):
                    yield frames.message(piece)
                    frames.sent()
            tail = rechunk.flush()
            if tail:
                yield frames.message(tail)
                frames.sent()
            last = frames.last()
            if last is not None:
                yield last

        try:
            # The generated stubs type the blocking channel; on an aio channel the call is awaited.
            call: Any = self._stub.Upload
            resp = await call(requests(), timeout=frames.timeout(self.client.timeout), metadata=self.client._metadata)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        return frames.result(resp)

    async def upload_file(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        progress: Optional[Progress] = None,
        digest: Optional[Digest] = None,
    ) -> Digest:
        """Hashes the file first in a thread (so a blob the server has is never sent), then streams it."""
        digest = digest or await asyncio.to_thread(Digest.of_file, path)
        f = await asyncio.to_thread(open, path, "rb")
        try:
            return await self.upload_iter(_read_chunks_async(f), digest=digest, progress=progress)
        finally:
            f.close()

    async def upload_stream(self, stream: BinaryIO, *, progress: Optional[Progress] = None) -> Digest:
        """Streams a readable binary object to its end (read in a thread; the digest is computed on the way)."""
        return await self.upload_iter(_read_chunks_async(stream), progress=progress)

    async def put_bytes(self, data: bytes) -> Digest:
        """Stores bytes; small ones in one unary call, large ones streamed."""
        digest = Digest.of(data)
        caps = await self.capabilities()
        if _fits_a_batch(caps, len(data)):
            await self.batch_update([data])
            return digest
        return await self.upload_iter(_slices(data, caps), digest=digest)

    # -- streaming download ---------------------------------------------------------------------

    async def download(
        self,
        digest: Digest,
        *,
        offset: int = 0,
        length: int = 0,
        progress: Optional[Progress] = None,
        verify: bool = True,
    ) -> AsyncIterator[bytes]:
        """Yields the blob (or a range of it) chunk by chunk; a whole-blob download is checked
        against its digest at the end (DataLoss on a mismatch) unless verify is False."""
        check = _DownloadCheck(digest, offset, length, progress, verify)
        request = _download_request(self.namespace, digest, offset, length)
        method = self.client.stub(_DownloadStub).Download
        try:
            async for data in self.client.stream(
                method, request, timeout=_transfer_timeout(self.client.timeout, digest.size)
            ):
                await check.take_async(data)
                yield data
            await check.finish_async()
        finally:
            check.close()

    async def download_to_file(
        self, digest: Digest, path: Union[str, os.PathLike[str]], *, progress: Optional[Progress] = None
    ) -> None:
        """Writes the verified blob to `path` (through a temporary file, renamed at the end)."""
        tmp = f"{os.fspath(path)}.part-{os.getpid()}-{id(asyncio.current_task())}"
        try:
            f = await asyncio.to_thread(open, tmp, "wb")
            try:
                async for chunk in self.download(digest, progress=progress):
                    await asyncio.to_thread(f.write, chunk)
            finally:
                f.close()
            await asyncio.to_thread(os.replace, tmp, path)
        finally:
            await asyncio.to_thread(_unlink_if_there, tmp)

    async def get_bytes(self, digest: Digest) -> bytes:
        if _fits_a_batch(await self.capabilities(), digest.size):
            return (await self.batch_read([digest]))[0]
        return b"".join([chunk async for chunk in self.download(digest)])

    # -- presence, batches, delete ------------------------------------------------------------------

    async def find_missing(self, digests: Sequence[Digest]) -> List[Digest]:
        missing: List[Digest] = []
        for req in _find_missing_requests(self.namespace, digests, await self.capabilities()):
            resp = await self.client.call(self._stub.FindMissingBlobs, req)
            missing += [Digest.from_proto(d) for d in resp.missing_digests]
        return missing

    async def exists(self, digest: Digest) -> bool:
        return not await self.find_missing([digest])

    async def batch_update(self, items: Sequence[bytes]) -> List[Digest]:
        """Stores many small blobs (see `Blobs.batch_update`)."""
        digests = [Digest.of(d) for d in items]
        for start, req in _update_requests(self.namespace, items, digests, await self.capabilities()):
            _raise_item_errors(start, (await self.client.call(self._stub.BatchUpdateBlobs, req)).results)
        return digests

    async def batch_read(self, digests: Sequence[Digest]) -> List[bytes]:
        out: List[bytes] = []
        for start, req in _read_requests(self.namespace, digests, await self.capabilities()):
            results = (await self.client.call(self._stub.BatchReadBlobs, req)).results
            _raise_item_errors(start, results)
            out += [r.data for r in results]
        return out

    async def delete(self, digest: Digest, *, force: bool = False) -> bool:
        req = pb.DeleteBlobRequest(namespace=self.namespace, digest=digest.to_proto(), force=force)
        return bool((await self.client.call(self._stub.DeleteBlob, req)).deleted)

    # -- keyed objects ----------------------------------------------------------------------------------

    async def put_object(self, key: str, data: bytes) -> Digest:
        digest = await self.put_bytes(data)
        await self.set_key(key, digest)
        return digest

    async def set_key(self, key: str, digest: Digest) -> Optional[Digest]:
        req = pb.PutKeyRequest(namespace=self.namespace, key=key, digest=digest.to_proto())
        resp = await self.client.call(self._stub.PutKey, req)
        return Digest.from_proto(resp.previous_digest) if resp.HasField("previous_digest") else None

    async def get_object(self, key: str) -> bytes:
        """The bytes under `key`; raises artimeta.NotFound (reason KEY_NOT_FOUND) when absent."""
        req = pb.GetKeyRequest(namespace=self.namespace, key=key, include_data=True)
        resp = await self.client.call(self._stub.GetKey, req)
        data = _key_data(key, resp)
        if data is not None:
            return data
        return b"".join([c async for c in self.download(Digest.from_proto(resp.entry.digest))])

    async def get_key(self, key: str) -> Digest:
        resp = await self.client.call(self._stub.GetKey, pb.GetKeyRequest(namespace=self.namespace, key=key))
        return Digest.from_proto(resp.entry.digest)

    async def delete_object(self, key: str, *, allow_missing: bool = False) -> bool:
        req = pb.DeleteKeyRequest(namespace=self.namespace, key=key, allow_missing=allow_missing)
        return bool((await self.client.call(self._stub.DeleteKey, req)).deleted)

    async def list_objects(self, prefix: str = "", *, page_size: int = 0) -> AsyncIterator[KeyEntry]:
        token = ""
        while True:
            req = pb.ListKeysRequest(namespace=self.namespace, prefix=prefix, page_size=page_size, page_token=token)
            page = await self.client.call(self._stub.ListKeys, req)
            for e in page.entries:
                yield KeyEntry(e.key, Digest.from_proto(e.digest))
            token = page.next_page_token
            if not token:
                return


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


def _capabilities(r: pb.GetCapabilitiesResponse) -> Capabilities:
    return Capabilities(
        r.max_message_bytes,
        r.chunk_size_bytes,
        r.max_batch_items,
        r.max_batch_total_bytes,
        r.max_blob_bytes,
        r.max_find_missing_items,
        r.presigned_urls,
    )


def _transfer_timeout(default: float, size: int) -> float:
    # Big transfers need more than the default deadline: allow 5 MiB/s at worst.
    return max(default, 60.0 + size / (5 * 1024 * 1024))


def _fits_a_batch(caps: Capabilities, size: int) -> bool:
    return size <= min(SMALL_BLOB, caps.max_batch_total_bytes)


def _slices(data: bytes, caps: Capabilities) -> Iterator[bytes]:
    view = memoryview(data)
    step = min(UPLOAD_CHUNK, caps.chunk_size_bytes)
    return (bytes(view[i : i + step]) for i in range(0, len(data), step))


class _UploadFrames:
    """The messages of one streaming upload, for the sync and the asyncio client alike: the first
    names the namespace (and the digest when it is known), the data follows in chunks no bigger
    than the server asks for, and when the digest was not known it is computed on the way and
    sent last."""

    def __init__(
        self,
        namespace: str,
        digest: Optional[Digest],
        total: int,
        progress: Optional[Progress],
        caps: Capabilities,
    ) -> None:
        self.namespace = namespace
        self.digest = digest
        self.total = digest.size if digest is not None else total
        self.progress = progress
        # Small upload messages keep what the server buffers (and so its memory) low.
        self.chunk_size = min(UPLOAD_CHUNK, caps.chunk_size_bytes)
        self.hasher = hashlib.sha256()
        self.done = 0
        self.first = True

    def timeout(self, default: float) -> float:
        return _transfer_timeout(default, self.total if self.total >= 0 else 1 << 34)

    def message(self, block: bytes) -> pb.UploadRequest:
        if self.digest is None:
            self.hasher.update(block)
        self.done += len(block)
        first, self.first = self.first, False
        return pb.UploadRequest(
            namespace=self.namespace if first else "",
            digest=self.digest.to_proto() if (first and self.digest is not None) else None,
            data=block,
        )

    def sent(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total)

    def last(self) -> Optional[pb.UploadRequest]:
        """The closing message, if one is needed: the digest when it was computed here (and the
        namespace too when no data went out at all)."""
        final = self.digest or Digest(self.hasher.hexdigest(), self.done)
        if self.first:
            return pb.UploadRequest(namespace=self.namespace, digest=final.to_proto())
        if self.digest is None:
            return pb.UploadRequest(digest=final.to_proto())
        return None

    def result(self, resp: pb.UploadResponse) -> Digest:
        result = Digest.from_proto(resp.digest)
        if self.progress is not None and resp.already_present:
            self.progress(result.size, result.size)
        return result


def _find_missing_requests(
    namespace: str, digests: Sequence[Digest], caps: Capabilities
) -> Iterator[pb.FindMissingBlobsRequest]:
    step = caps.max_find_missing_items
    for i in range(0, len(digests), step):
        yield pb.FindMissingBlobsRequest(namespace=namespace, digests=[d.to_proto() for d in digests[i : i + step]])


def _batches(caps: Capabilities, sizes: Sequence[int]) -> Iterator[Tuple[int, int]]:
    """[start, end) ranges of items that fit the server's batch limits."""
    start, total = 0, 0
    for i, size in enumerate(sizes):
        if i > start and (i - start >= caps.max_batch_items or total + size > caps.max_batch_total_bytes):
            yield start, i
            start, total = i, 0
        total += size
    if start < len(sizes):
        yield start, len(sizes)


def _update_requests(
    namespace: str, items: Sequence[bytes], digests: Sequence[Digest], caps: Capabilities
) -> Iterator[Tuple[int, pb.BatchUpdateBlobsRequest]]:
    for start, end in _batches(caps, [len(d) for d in items]):
        yield (
            start,
            pb.BatchUpdateBlobsRequest(
                namespace=namespace,
                items=[
                    pb.BatchUpdateBlobsRequest.Item(digest=digests[i].to_proto(), data=items[i])
                    for i in range(start, end)
                ],
            ),
        )


def _read_requests(
    namespace: str, digests: Sequence[Digest], caps: Capabilities
) -> Iterator[Tuple[int, pb.BatchReadBlobsRequest]]:
    for start, end in _batches(caps, [d.size for d in digests]):
        yield start, pb.BatchReadBlobsRequest(namespace=namespace, digests=[d.to_proto() for d in digests[start:end]])


def _raise_item_errors(start: int, results: Sequence[Any]) -> None:
    for offset, result in enumerate(results):
        err = _item_error(result.status)
        if err is not None:
            raise ItemError(start + offset, err)


def _key_data(key: str, resp: pb.GetKeyResponse) -> Optional[bytes]:
    """The verified bytes a GetKey answer carries, None when they were too big to include."""
    if not resp.data_included:
        return None
    digest = Digest.from_proto(resp.entry.digest)
    if Digest.of(resp.data) != digest:
        raise DataLoss(f"bytes of key {key!r} do not match {digest}", reason="DIGEST_MISMATCH")
    data: bytes = resp.data
    return data


def http_put(url: str, data: bytes) -> None:
    request = urllib.request.Request(url, data=data, method="PUT")
    with urllib.request.urlopen(request, timeout=300) as resp:
        if resp.status >= 300:
            raise FailedPrecondition(f"presigned PUT answered {resp.status}", reason="PRESIGNED_PUT_FAILED")


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=300) as resp:
        data: bytes = resp.read()
        return data


_DOWNLOAD_METHOD = "/artimeta.v1.BlobService/Download"


def _download_data(raw: bytes) -> bytes:
    """The `data` of a serialized DownloadResponse. The message is that one bytes field, so its
    wire form is 0x0a, a varint length, then the bytes: slicing them out copies them once where
    parsing the message copies them twice (into the message, then out of it), and a download
    moves hundreds of MiB this way. Any other form (a field added later) is parsed."""
    if raw[:1] == b"\x0a":
        size, shift, i = 0, 0, 1
        while i < len(raw) and shift < 64:
            byte = raw[i]
            i += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                if i + size == len(raw):
                    return raw[i:]
                break
    data: bytes = pb.DownloadResponse.FromString(raw).data
    return data


class _DownloadStub:
    """BlobService.Download yielding the bytes of each message (see _download_data), on a sync or
    an asyncio channel; cached per client like the generated stubs."""

    def __init__(self, channel: Any) -> None:
        self.Download = channel.unary_stream(
            _DOWNLOAD_METHOD,
            request_serializer=pb.DownloadRequest.SerializeToString,
            response_deserializer=_download_data,
        )


def _download_request(namespace: str, digest: Digest, offset: int, length: int) -> pb.DownloadRequest:
    return pb.DownloadRequest(namespace=namespace, digest=digest.to_proto(), offset=offset, length=length)


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


__all__ = ["AsyncBlobs", "Blobs", "Capabilities", "Digest", "ItemError", "KeyEntry", "Progress", "http_get", "http_put"]

"""`AsyncBlobs`: BlobService for one namespace on an `artimeta.AsyncClient`."""

from __future__ import annotations

import asyncio
import os
import urllib.request
from typing import Any, AsyncIterable, AsyncIterator, BinaryIO, Iterable, List, Optional, Sequence, Union

import grpc

from artimeta.blob_requests import (
    _capabilities,
    _download_request,
    _DownloadStub,
    _find_missing_requests,
    _fits_a_batch,
    _key_data,
    _raise_item_errors,
    _read_requests,
    _slices,
    _transfer_timeout,
    _update_requests,
    _UploadFrames,
)
from artimeta.blob_streams import (
    _aiter,
    _BackgroundHash,
    _DownloadCheck,
    _read_chunks_async,
    _unlink_if_there,
    http_put,
    http_put_file,
)
from artimeta.blob_types import READ_CHUNK, Capabilities, Digest, KeyEntry, Progress
from artimeta.client import AsyncClient
from artimeta.errors import DataLoss, from_rpc_error
from artimeta.rpcs.blobs_aio import AsyncBlobRpcs
from artimeta.v1 import blobs_pb2 as pb


class AsyncBlobs(AsyncBlobRpcs):
    """BlobService for one namespace, on an `artimeta.AsyncClient`: the same operations as
    `Blobs`, awaited. Requests, checks and limits are shared with `Blobs`; only the calls and
    the file I/O (done in threads, never on the event loop) differ.

        async with AsyncClient("127.0.0.1:50051") as client:
            blobs = AsyncBlobs(client, "team-a")
            digest = await blobs.upload_file("model.bin")
            await blobs.download_to_file(digest, "copy.bin")
    """

    def __init__(self, client: AsyncClient, namespace: str) -> None:
        super().__init__(client, namespace)
        self._caps: Optional[Capabilities] = None

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
            async for block in _aiter(chunks):
                for message in frames.feed(block):
                    yield message
            for message in frames.close():
                yield message

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

    async def stat(self, digest: Digest) -> pb.StatBlobResponse:
        return await self.stat_blob(digest=digest.to_proto())

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

    # -- presigned ----------------------------------------------------------------------------------

    async def upload_via_url(self, data: bytes, *, expires_in_s: int = 0) -> Digest:
        """Uploads straight to S3 with a presigned PUT (in a thread), then has the server verify
        and commit it."""
        digest = Digest.of(data)
        up = await self.create_upload_url(digest=digest.to_proto(), expires_in_seconds=expires_in_s)
        if up.already_present:
            return digest
        await asyncio.to_thread(http_put, up.url, data)
        await self.commit_upload(upload_id=up.upload_id)
        return digest

    async def upload_file_direct(
        self, path: Union[str, os.PathLike[str]], *, digest: Optional[Digest] = None, expires_in_s: int = 0
    ) -> Digest:
        """Streams a file straight to S3 through a presigned PUT (see `Blobs.upload_file_direct`);
        hashing and the transfer run in threads."""
        if digest is None:
            digest = await asyncio.to_thread(Digest.of_file, path)
        up = await self.create_upload_url(digest=digest.to_proto(), expires_in_seconds=expires_in_s)
        if up.already_present:
            return digest
        timeout = _transfer_timeout(self.client.timeout, digest.size)
        await asyncio.to_thread(http_put_file, up.url, path, digest.size, timeout=timeout)
        await self.commit_upload(upload_id=up.upload_id, timeout=timeout)
        return digest

    async def download_direct(self, digest: Digest, *, verify: bool = True) -> AsyncIterator[bytes]:
        """Streams a blob straight from S3 through a presigned GET (reads in a thread), checked
        against its digest at the end unless verify is False."""
        url = await self.download_url(digest)
        hasher = _BackgroundHash() if verify else None
        done = 0
        timeout = _transfer_timeout(self.client.timeout, digest.size)
        try:
            resp = await asyncio.to_thread(urllib.request.urlopen, url, timeout=timeout)
            try:
                while True:
                    block = await asyncio.to_thread(resp.read, 4 * READ_CHUNK)
                    if not block:
                        break
                    if hasher is not None:
                        await hasher.update_async(block)
                    done += len(block)
                    yield block
            finally:
                resp.close()
            if hasher is not None and (done != digest.size or await hasher.hexdigest_async() != digest.hash):
                raise DataLoss(f"downloaded bytes do not match {digest}", reason="DIGEST_MISMATCH")
        finally:
            if hasher is not None:
                hasher.close()

    async def download_url(self, digest: Digest, *, expires_in_s: int = 0) -> str:
        resp = await self.create_download_url(digest=digest.to_proto(), expires_in_seconds=expires_in_s)
        return resp.url

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

"""BlobService."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.rpc import status_pb2

from artimeta.v1 import blobs_pb2 as pb
from artimeta.v1 import blobs_pb2_grpc, digest_pb2
from artimeta_server.domain.blobs.models import KeyEntry, UploadPiece
from artimeta_server.domain.blobs.service import Blobs
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import DomainError, InvalidArgument
from artimeta_server.domain.reasons import Reason
from artimeta_server.rpc import access, convert
from artimeta_server.rpc.errors import describe

access.declare(
    "artimeta.v1.BlobService",
    signed_in={"GetCapabilities"},
    read={
        "Download",
        "FindMissingBlobs",
        "StatBlob",
        "BatchReadBlobs",
        "CreateDownloadUrl",
        "GetKey",
        "ListKeys",
    },
    write={"Upload", "BatchUpdateBlobs", "DeleteBlob", "CreateUploadUrl", "CommitUpload", "PutKey", "DeleteKey"},
    # A force-delete removes bytes that records and keys still point at.
    admin_if={"DeleteBlob": "force"},
)

Context = grpc.aio.ServicerContext[Any, Any]
_OK = status_pb2.Status(code=0)


def digest_in(msg: digest_pb2.Digest, field: str = "digest") -> Digest:
    return Digest.parse(msg.hash, msg.size_bytes, field=field)


def digest_out(d: Digest) -> digest_pb2.Digest:
    return digest_pb2.Digest(hash=d.hash, size_bytes=d.size)


def required_digest(owner: Any, field: str = "digest") -> Digest:
    if not owner.HasField(field):
        raise InvalidArgument(f"{field} is required", reason=Reason.INVALID_DIGEST, metadata={"field": field})
    return digest_in(getattr(owner, field), field)


def status_of(exc: BaseException) -> status_pb2.Status:
    return describe(exc, None)[1]


def key_entry(e: KeyEntry) -> pb.KeyEntry:
    return pb.KeyEntry(key=e.key, digest=digest_out(e.digest), update_time=convert.timestamp(e.update_time))


class BlobServicer(blobs_pb2_grpc.BlobServiceServicer):
    def __init__(self, blobs: Blobs) -> None:
        self._blobs = blobs

    async def GetCapabilities(self, request: pb.GetCapabilitiesRequest, context: Context) -> pb.GetCapabilitiesResponse:
        c = self._blobs.capabilities
        return pb.GetCapabilitiesResponse(
            digest_function="SHA256",
            max_message_bytes=c.max_message_bytes,
            chunk_size_bytes=c.chunk_size_bytes,
            max_batch_items=c.max_batch_items,
            max_batch_total_bytes=c.max_batch_total_bytes,
            max_blob_bytes=c.max_blob_bytes,
            presigned_urls=c.presigned_urls,
            max_find_missing_items=c.max_find_missing_items,
        )

    async def Upload(self, request_iterator: AsyncIterator[pb.UploadRequest], context: Context) -> pb.UploadResponse:
        async with self._blobs.upload_slot():
            return await self._upload(request_iterator)

    async def _upload(self, request_iterator: AsyncIterator[pb.UploadRequest]) -> pb.UploadResponse:
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None:
            raise InvalidArgument("the upload stream is empty", reason=Reason.DIGEST_REQUIRED)
        if not first.namespace:
            raise InvalidArgument(
                "the first message must name the namespace",
                reason=Reason.NAMESPACE_REQUIRED,
                metadata={"field": "namespace"},
            )

        async def pieces() -> AsyncIterator[UploadPiece]:
            assert first is not None
            yield UploadPiece(digest_in(first.digest) if first.HasField("digest") else None, first.data)
            async for req in requests:
                if req.namespace and req.namespace != first.namespace:
                    raise InvalidArgument(
                        f"the upload stream is bound to namespace {first.namespace!r}, a later message names "
                        f"{req.namespace!r}",
                        reason=Reason.NAMESPACE_MISMATCH,
                        metadata={"field": "namespace", "namespace": first.namespace},
                    )
                yield UploadPiece(digest_in(req.digest) if req.HasField("digest") else None, req.data)

        result = await self._blobs.upload(first.namespace, pieces())
        return pb.UploadResponse(digest=digest_out(result.digest), already_present=result.already_present)

    async def Download(self, request: pb.DownloadRequest, context: Context) -> AsyncIterator[pb.DownloadResponse]:
        chunks = await self._blobs.download(request.namespace, required_digest(request), request.offset, request.length)
        async for chunk in chunks:
            yield pb.DownloadResponse(data=chunk)

    async def FindMissingBlobs(
        self, request: pb.FindMissingBlobsRequest, context: Context
    ) -> pb.FindMissingBlobsResponse:
        digests = [digest_in(d, "digests") for d in request.digests]
        missing = await self._blobs.find_missing(request.namespace, digests)
        return pb.FindMissingBlobsResponse(missing_digests=[digest_out(d) for d in missing])

    async def StatBlob(self, request: pb.StatBlobRequest, context: Context) -> pb.StatBlobResponse:
        digest = required_digest(request)
        created = await self._blobs.stat(request.namespace, digest)
        return pb.StatBlobResponse(digest=digest_out(digest), create_time=convert.timestamp(created))

    async def BatchUpdateBlobs(
        self, request: pb.BatchUpdateBlobsRequest, context: Context
    ) -> pb.BatchUpdateBlobsResponse:
        items: list[tuple[Digest, bytes]] = []
        bad: dict[int, DomainError] = {}
        for i, item in enumerate(request.items):
            try:
                items.append((required_digest(item), item.data))
            except DomainError as exc:
                bad[i] = exc
        outcomes = iter(await self._blobs.batch_update(request.namespace, items))
        results = []
        for i, item in enumerate(request.items):
            err = bad.get(i)
            if err is None:
                err = next(outcomes)
            results.append(
                pb.BatchUpdateBlobsResponse.Result(digest=item.digest, status=_OK if err is None else status_of(err))
            )
        return pb.BatchUpdateBlobsResponse(results=results)

    async def BatchReadBlobs(self, request: pb.BatchReadBlobsRequest, context: Context) -> pb.BatchReadBlobsResponse:
        digests = [digest_in(d, "digests") for d in request.digests]
        outcomes = await self._blobs.batch_read(request.namespace, digests)
        results = []
        for msg, out in zip(request.digests, outcomes, strict=True):
            if isinstance(out, bytes):
                results.append(pb.BatchReadBlobsResponse.Result(digest=msg, data=out, status=_OK))
            else:
                results.append(pb.BatchReadBlobsResponse.Result(digest=msg, status=status_of(out)))
        return pb.BatchReadBlobsResponse(results=results)

    async def DeleteBlob(self, request: pb.DeleteBlobRequest, context: Context) -> pb.DeleteBlobResponse:
        deleted = await self._blobs.delete(request.namespace, required_digest(request), force=request.force)
        return pb.DeleteBlobResponse(deleted=deleted)

    async def CreateUploadUrl(self, request: pb.CreateUploadUrlRequest, context: Context) -> pb.CreateUploadUrlResponse:
        up = await self._blobs.create_upload_url(
            request.namespace, required_digest(request), request.expires_in_seconds
        )
        return pb.CreateUploadUrlResponse(
            already_present=up.already_present,
            upload_id=up.upload_id,
            url=up.url,
            expire_time=convert.timestamp(up.expire_time),
        )

    async def CommitUpload(self, request: pb.CommitUploadRequest, context: Context) -> pb.CommitUploadResponse:
        digest = await self._blobs.commit_upload(request.namespace, request.upload_id)
        return pb.CommitUploadResponse(digest=digest_out(digest))

    async def CreateDownloadUrl(
        self, request: pb.CreateDownloadUrlRequest, context: Context
    ) -> pb.CreateDownloadUrlResponse:
        url, expires = await self._blobs.create_download_url(
            request.namespace, required_digest(request), request.expires_in_seconds
        )
        return pb.CreateDownloadUrlResponse(url=url, expire_time=convert.timestamp(expires))

    async def PutKey(self, request: pb.PutKeyRequest, context: Context) -> pb.PutKeyResponse:
        entry, previous = await self._blobs.put_key(request.namespace, request.key, required_digest(request))
        return pb.PutKeyResponse(
            entry=key_entry(entry), previous_digest=digest_out(previous) if previous is not None else None
        )

    async def GetKey(self, request: pb.GetKeyRequest, context: Context) -> pb.GetKeyResponse:
        entry, data = await self._blobs.get_key(request.namespace, request.key, include_data=request.include_data)
        return pb.GetKeyResponse(entry=key_entry(entry), data_included=data is not None, data=data or b"")

    async def DeleteKey(self, request: pb.DeleteKeyRequest, context: Context) -> pb.DeleteKeyResponse:
        deleted = await self._blobs.delete_key(request.namespace, request.key, allow_missing=request.allow_missing)
        return pb.DeleteKeyResponse(deleted=deleted)

    async def ListKeys(self, request: pb.ListKeysRequest, context: Context) -> pb.ListKeysResponse:
        page = await self._blobs.list_keys(request.namespace, request.prefix, request.page_size, request.page_token)
        return pb.ListKeysResponse(entries=[key_entry(e) for e in page.entries], next_page_token=page.next_page_token)

"""BlobService requests shared by `Blobs` and `AsyncBlobs`: batching to the server's limits,
upload frames, per-item results, and the Download stub that yields raw bytes."""

from __future__ import annotations

import hashlib
from typing import (
    Any,
    Iterator,
    Optional,
    Sequence,
    Tuple,
)

from artimeta.blob_streams import _Rechunker
from artimeta.blob_types import SMALL_BLOB, UPLOAD_CHUNK, Capabilities, Digest, ItemError, Progress, _item_error
from artimeta.errors import DataLoss
from artimeta.v1 import blobs_pb2 as pb


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
        self._rechunk = _Rechunker(self.chunk_size)
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

    def feed(self, block: bytes) -> Iterator[pb.UploadRequest]:
        """The data messages `block` completes; progress is told once each has been taken."""
        for piece in self._rechunk.feed(block):
            yield self.message(piece)
            self.sent()

    def close(self) -> Iterator[pb.UploadRequest]:
        """What follows the last block: the data still held, then the closing message if any."""
        tail = self._rechunk.flush()
        if tail:
            yield self.message(tail)
            self.sent()
        last = self.last()
        if last is not None:
            yield last

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

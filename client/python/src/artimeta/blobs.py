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

import os
import threading
import urllib.request
from typing import BinaryIO, Iterable, Iterator, List, Optional, Sequence, Union

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
    _BackgroundHash,
    _DownloadCheck,
    _read_chunks,
    http_get,
    http_put,
    http_put_file,
)
from artimeta.blob_types import (
    READ_CHUNK,
    SMALL_BLOB,
    UPLOAD_CHUNK,
    Capabilities,
    Digest,
    ItemError,
    KeyEntry,
    Progress,
)
from artimeta.blobs_aio import AsyncBlobs
from artimeta.client import Client
from artimeta.errors import DataLoss, from_rpc_error
from artimeta.rpcs.blobs import BlobRpcs
from artimeta.v1 import blobs_pb2 as pb

__all__ = [
    "READ_CHUNK",
    "SMALL_BLOB",
    "UPLOAD_CHUNK",
    "AsyncBlobs",
    "Blobs",
    "Capabilities",
    "Digest",
    "ItemError",
    "KeyEntry",
    "Progress",
    "http_get",
    "http_put",
]


class Blobs(BlobRpcs):
    """BlobService for one namespace, on a blocking `artimeta.Client`: the typed RPCs of
    `BlobRpcs` plus streaming, batching, presigned and keyed-object helpers."""

    def __init__(self, client: Client, namespace: str) -> None:
        super().__init__(client, namespace)
        self._caps: Optional[Capabilities] = None
        self._lock = threading.Lock()

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
            for block in chunks:
                yield from frames.feed(block)
            yield from frames.close()

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
        http_put_file(up.url, path, digest.size, timeout=self._transfer_timeout(digest.size))
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

"""`AsyncRecords`: RecordService for one namespace on an `artimeta.AsyncClient`."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, BinaryIO, Iterator, List, Mapping, Optional, Sequence, Tuple

from artimeta.blobs import AsyncBlobs, Digest, Progress
from artimeta.client import AsyncClient
from artimeta.record_commits import (
    CommitStats,
    PathLike,
    _commit_request,
    _file_digests,
    _large,
    _Sent,
    _small_batches,
    _stats,
    _to_send,
    scan_directory,
)
from artimeta.record_files import _Retrieval, _write_tar
from artimeta.rpcs.records_aio import AsyncRecordRpcs
from artimeta.v1 import records_pb2 as pb


class AsyncRecords(AsyncRecordRpcs):
    """RecordService for one namespace, on an `artimeta.AsyncClient`: commit and retrieve record
    directories like `Records`, sharing its plan; directory scans and file writes run in threads."""

    def __init__(
        self, client: AsyncClient, namespace: str, *, blobs: Optional[AsyncBlobs] = None, concurrency: int = 4
    ) -> None:
        super().__init__(client, namespace)
        self.blobs = blobs or AsyncBlobs(client, namespace)
        self.concurrency = concurrency

    async def commit_directory(
        self,
        uuid: str,
        directory: PathLike,
        *,
        metadata: Optional[Mapping[str, str]] = None,
        relations: Sequence[Tuple[str, str]] = (),
        replace: bool = False,
        progress: Optional[Progress] = None,
    ) -> CommitStats:
        """See `Records.commit_directory`."""
        local = await asyncio.to_thread(scan_directory, directory)
        missing = set(await self.blobs.find_missing(_file_digests(local)))
        todo = _to_send(local, missing)
        sent = _Sent(todo, progress)
        limit = min((await self.blobs.capabilities()).max_batch_total_bytes, 8 * 1024 * 1024)
        batches = _small_batches(todo, limit)
        while True:
            batch = await asyncio.to_thread(next, batches, None)
            if batch is None:
                break
            await self.blobs.batch_update(batch)
            sent.add(sum(len(b) for b in batch))
        for d, path in _large(todo):
            await self.blobs.upload_file(path, digest=d, progress=sent.step())
            sent.add(d.size)
        req = _commit_request(self.namespace, uuid, local, metadata, relations, replace)
        resp = await self.client.call(self._stub.CommitRecord, req)
        return _stats(resp, local, todo, sent.done)

    async def get(self, uuid: str) -> pb.Record:
        return (await self.get_record(uuid=uuid)).record

    async def retrieve_directory(
        self, uuid: str, directory: PathLike, *, progress: Optional[Progress] = None
    ) -> pb.Record:
        """See `Records.retrieve_directory`; large files stream `concurrency` at a time."""
        record = await self.get(uuid)
        plan = await asyncio.to_thread(_Retrieval, record, directory)
        try:
            datas = await self.blobs.batch_read(plan.unique_small) if plan.unique_small else []
            await asyncio.to_thread(plan.write_small, datas, progress)
            gate = asyncio.Semaphore(self.concurrency)

            async def fetch(e: pb.RecordEntry) -> None:
                async with gate:
                    out = await asyncio.to_thread(plan.create, e)
                    try:
                        async for chunk in self.blobs.download(Digest.from_proto(e.digest)):
                            await asyncio.to_thread(out.file.write, chunk)
                        await asyncio.to_thread(plan.commit, out, e)
                    finally:
                        await asyncio.to_thread(plan.discard, out)
                    plan.count(int(e.digest.size_bytes), progress)

            await asyncio.gather(*(fetch(e) for e in plan.large))
            await asyncio.to_thread(plan.finish)
        finally:
            plan.close()
        return record

    async def export_tar(self, uuid: str, out: BinaryIO, *, progress: Optional[Progress] = None) -> pb.Record:
        """See `Records.export_tar`: the tar stream is written in a thread, fed chunk by chunk
        from this event loop's downloads."""
        record = await self.get(uuid)
        loop = asyncio.get_running_loop()

        def chunks(digest: Digest) -> Iterator[bytes]:
            download = self.blobs.download(digest)

            async def next_chunk() -> bytes:
                return await download.__anext__()

            while True:
                try:
                    yield asyncio.run_coroutine_threadsafe(next_chunk(), loop).result()
                except StopAsyncIteration:
                    return

        await asyncio.to_thread(_write_tar, record, out, chunks, progress)
        return record

    async def contains(self, uuid: str) -> bool:
        return bool((await self.contains_record(uuid=uuid)).contains)

    async def delete(self, uuid: str, *, allow_missing: bool = True) -> bool:
        return bool((await self.delete_record(uuid=uuid, allow_missing=allow_missing)).deleted)

    async def list(
        self, *, uuid_prefix: str = "", metadata: Optional[Mapping[str, str]] = None, page_size: int = 0
    ) -> AsyncIterator[pb.Record]:
        token = ""
        while True:
            page = await self.list_records(
                uuid_prefix=uuid_prefix, metadata=metadata, page_size=page_size, page_token=token
            )
            for record in page.records:
                yield record
            token = page.next_page_token
            if not token:
                return

    async def related(self, uuid: str, *, deep: bool = False) -> List[str]:
        return list((await self.list_related_records(uuid=uuid, deep=deep)).uuids)

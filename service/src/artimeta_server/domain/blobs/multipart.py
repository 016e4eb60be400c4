"""One S3 multipart upload fed part by part, with a bounded number of parts in the air."""

from __future__ import annotations

import asyncio

from artimeta_server.domain.blobs.ports import ObjectStore
from artimeta_server.domain.blobs.rules import PARTS_IN_FLIGHT


class Multipart:
    def __init__(self, store: ObjectStore, key: str, s3_upload_id: str) -> None:
        self.store = store
        self.key = key
        self.s3_upload_id = s3_upload_id
        self._tasks: list[asyncio.Task[str]] = []

    async def add(self, data: bytes) -> None:
        in_flight = [t for t in self._tasks if not t.done()]
        if len(in_flight) >= PARTS_IN_FLIGHT:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        for t in self._tasks:
            if t.done():
                t.result()  # surface a failed part now rather than at the end
        number = len(self._tasks) + 1
        self._tasks.append(asyncio.ensure_future(self.store.upload_part(self.key, self.s3_upload_id, number, data)))

    async def complete(self) -> None:
        etags = list(await asyncio.gather(*self._tasks))
        await self.store.complete_multipart(self.key, self.s3_upload_id, etags)

    async def abort(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.store.abort_multipart(self.key, self.s3_upload_id)

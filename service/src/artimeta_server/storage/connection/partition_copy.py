"""Chunks of a bulk partition write streamed into COPY: the next chunk is canonicalized (in a
worker thread) while this one is copied."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from artimeta_server.domain.connection.models import StoredPartitions


async def recorded(
    chunks: AsyncIterator[StoredPartitions], taken: list[StoredPartitions]
) -> AsyncIterator[StoredPartitions]:
    """The chunks, each kept in `taken` as it passes: what to replay if the COPY fails."""
    async for parts in chunks:
        taken.append(parts)
        yield parts


async def streamed(
    chunks: AsyncIterator[StoredPartitions], copy: Callable[[StoredPartitions], Awaitable[None]]
) -> None:
    """copy() of every chunk, the next chunk canonicalized (in a worker thread) while this one is
    copied."""
    copying: asyncio.Future[None] | None = None
    try:
        async for parts in chunks:
            if copying is not None:
                await copying
            copying = asyncio.ensure_future(copy(parts))
            await asyncio.sleep(0)
        if copying is not None:
            await copying
            copying = None
    finally:
        # A later chunk failed: let the copy in flight finish, then the transaction rolls back
        # all of it.
        if copying is not None:
            with contextlib.suppress(Exception):
                await copying

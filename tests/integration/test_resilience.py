"""A dead Postgres or S3 server gives UNAVAILABLE, never a hang or INTERNAL, and the server
recovers by itself once it is back. Uses a stack of its own, so killing it disturbs no other test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import artimeta
from artimeta_server.devstack.stack import Stack
from artimeta_server.server import Server
from tests.conftest import settings_for, unique_name


@pytest.fixture(scope="module")
def own_stack(tmp_root: Path) -> Any:
    s = Stack(tmp_root / "resilience", durable=False)
    s.start()
    yield s
    s.remove()


@pytest.fixture(scope="module")
async def own_server(own_stack: Stack) -> AsyncIterator[Server]:
    srv = Server(
        settings_for(
            own_stack, db_acquire_timeout_s=2.0, s3_timeout_s=3.0, inline_document_limit=16, janitor_interval_s=3600
        )
    )
    await srv.start(migrate_schema=True)
    yield srv
    await srv.stop(0)


@pytest.fixture
async def client(own_server: Server) -> AsyncIterator[artimeta.AsyncClient]:
    # No client-side retries: the test wants to see the server's own answer.
    async with artimeta.AsyncClient(f"127.0.0.1:{own_server.port}", retry=None, timeout=15) as c:
        yield c


async def eventually(call: Callable[[], Awaitable[Any]], timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await call()
        except artimeta.Unavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_postgres_down_is_unavailable_then_recovers(own_stack: Stack, client: artimeta.AsyncClient) -> None:
    assert own_stack.postgres is not None
    name = unique_name()
    await client.create_namespace(name)
    own_stack.postgres.stop("immediate")
    try:
        with pytest.raises(artimeta.Unavailable) as err:
            await client.get_namespace(name)
        assert err.value.reason == "DATABASE_UNAVAILABLE"
        assert err.value.retry_delay_s is not None
    finally:
        own_stack.postgres.start()
    got = await eventually(lambda: client.get_namespace(name))
    assert got.name == name


async def test_s3_down_is_unavailable_then_recovers(
    own_stack: Stack, own_server: Server, client: artimeta.AsyncClient
) -> None:
    assert own_stack.s3 is not None and own_server.domain is not None
    name = unique_name()
    await client.create_namespace(name)
    ns_id = await own_server.domain.namespaces.resolve(name)
    doc = await own_server.domain.documents.store(ns_id, b"kept in s3" * 10)
    assert doc.digest is not None
    own_stack.s3.kill()
    try:
        # The deletion stands without the blob store (it is not rolled back over a half-purged
        # prefix); the bytes wait for the tombstone.
        deleted = await client.delete_namespace(name)
        assert deleted.deleted and deleted.blobs_deleted == 0
    finally:
        own_stack.s3.start()
    # The rows are gone and the tombstone finishes the job once S3 is back.
    with pytest.raises(artimeta.NotFound):
        await client.get_namespace(name)
    assert await eventually_purged(own_server) >= 1
    assert not await own_server.domain.blob_store.exists(ns_id, doc.digest)
    # New work succeeds again.
    other = unique_name()
    await eventually(lambda: client.create_namespace(other))
    assert (await client.delete_namespace(other)).deleted


async def eventually_purged(server: Server) -> int:
    assert server.domain is not None
    deadline = time.monotonic() + 20
    while True:
        try:
            return await server.domain.namespaces.purge_tombstones()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)

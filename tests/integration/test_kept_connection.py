"""Database.kept_connection: a hot serial read path keeps its connection out of the pool between
uses; a failure hands it back (a broken one is replaced), and closing the database returns it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from artimeta_server.config import Settings
from artimeta_server.domain.errors import Unavailable
from artimeta_server.storage.postgres import Database


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    d = Database(settings.database_url, min_size=1, max_size=8, acquire_timeout_s=5, statement_timeout_s=10)
    await d.open()
    yield d
    await asyncio.wait_for(d.close(), timeout=10)


async def _backend_pid(db: Database) -> int:
    async with db.kept_connection() as conn:
        pid: int = await conn.fetchval("SELECT pg_backend_pid()")
    return pid


async def test_the_kept_connection_is_reused_and_stays_out_of_the_pool(db: Database):
    first = await _backend_pid(db)
    assert [await _backend_pid(db) for _ in range(5)] == [first] * 5
    open_, in_use, _ = db.pool_stats()
    assert in_use == 1 and open_ >= 1
    # The pool's own users get other connections meanwhile.
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT pg_backend_pid()") != first


async def test_a_failed_statement_hands_the_connection_back(db: Database):
    await _backend_pid(db)
    with pytest.raises(asyncpg.UndefinedTableError):
        async with db.kept_connection() as conn:
            await conn.fetch("SELECT * FROM no_such_table")
    assert db.pool_stats()[1] == 0
    assert await _backend_pid(db) > 0


@pytest.mark.parametrize("noticed", [True, False])
async def test_a_broken_kept_connection_is_replaced(db: Database, noticed: bool):
    broken = await _backend_pid(db)
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", broken)
    if noticed:
        await asyncio.sleep(0.3)  # the driver has seen the socket close: the next use gets a new one
        assert await _backend_pid(db) not in (0, broken)
    else:
        # Used before the driver noticed: the statement fails as UNAVAILABLE (retryable, never
        # the driver's own error) and the connection goes back to be replaced.
        try:
            async with db.kept_connection() as conn:
                await conn.fetch("SELECT 1")
        except Unavailable as exc:
            assert exc.reason == "DATABASE_UNAVAILABLE"
    assert await _backend_pid(db) not in (0, broken)
    assert db.pool_stats()[1] == 1


async def test_close_returns_kept_connections(settings: Settings):
    d = Database(settings.database_url, min_size=1, max_size=8, acquire_timeout_s=5, statement_timeout_s=10)
    await d.open()
    await _backend_pid(d)
    await asyncio.wait_for(d.close(), timeout=3)  # pool.close() would wait for a connection never released


async def test_a_small_pool_keeps_nothing(settings: Settings):
    d = Database(settings.database_url, min_size=1, max_size=3, acquire_timeout_s=5, statement_timeout_s=10)
    await d.open()
    try:
        await _backend_pid(d)
        assert d.pool_stats()[1] == 0
    finally:
        await d.close()

"""Driver failures from a real Postgres, as Database reports them: a session that died under a
connection is UNAVAILABLE whatever the driver says about it; a misuse on a live connection and a
missing parent row other than the namespace stay the driver's own errors (INTERNAL on the wire)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from artimeta_server.domain.errors import NotFound, Unavailable
from artimeta_server.server import Server
from artimeta_server.storage.postgres import Database


def _db(server: Server) -> Database:
    assert server.domain is not None
    return server.domain.db


async def _kill(db: Database, pid: int) -> None:
    async with db.connection() as other:
        assert await other.fetchval("SELECT pg_terminate_backend($1)", pid)
    await asyncio.sleep(0.3)  # the driver sees the socket close


@pytest.mark.parametrize("path", ["connection", "transaction", "kept_connection"])
async def test_a_statement_on_a_connection_whose_session_died_is_unavailable(server: Server, path: str) -> None:
    db = _db(server)
    with pytest.raises(Unavailable) as err:
        async with getattr(db, path)() as conn:
            await _kill(db, await conn.fetchval("SELECT pg_backend_pid()"))
            await conn.fetchval("SELECT 1")
    assert err.value.reason == "DATABASE_UNAVAILABLE"
    # The driver refused the call on a closed connection (an InterfaceError, which has no
    # SQLSTATE): the connection's state, not the error's text, says the session died.
    assert isinstance(err.value.__cause__, asyncpg.InterfaceError)


async def test_a_statement_in_a_unit_of_work_whose_session_died_is_unavailable(server: Server) -> None:
    db = _db(server)
    with pytest.raises(Unavailable):
        async with db.unit_of_work():
            async with db.connection() as conn:
                pid = await conn.fetchval("SELECT pg_backend_pid()")
            await _kill(db, pid)
            async with db.connection() as conn:
                await conn.fetchval("SELECT 1")


async def test_a_misuse_on_a_live_connection_is_not_unavailable(server: Server) -> None:
    db = _db(server)
    with pytest.raises(asyncpg.InterfaceError):
        async with db.connection() as conn:
            await conn.fetchval("SELECT $1::int")  # an argument short
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT 1") == 1


async def test_a_missing_parent_other_than_the_namespace_is_not_namespace_not_found(
    server: Server, namespace: str
) -> None:
    assert server.domain is not None
    ns_id = await server.domain.namespaces.resolve(namespace)
    db = _db(server)
    with pytest.raises(asyncpg.ForeignKeyViolationError) as err:
        async with db.connection() as conn:
            await conn.execute(
                "INSERT INTO opstore_versions (namespace_id, op_id, major_hash, minor_hash, patch_hash,"
                " creation_time, major_number, minor_number, patch_number) VALUES ($1, -1, 'a', 'b', 'c', 0, 1, 0, 0)",
                ns_id,
            )
    assert err.value.constraint_name == "opstore_versions_namespace_id_op_id_fkey"


async def test_a_write_into_a_deleted_namespace_names_the_namespace_key(server: Server, namespace: str) -> None:
    assert server.domain is not None
    ns_id = await server.domain.namespaces.resolve(namespace)
    await server.domain.namespaces.delete(namespace, allow_missing=False)
    with pytest.raises(NotFound) as err:
        async with _db(server).transaction() as conn:
            await conn.execute(
                "INSERT INTO opstore_ops (namespace_id, name) VALUES ($1, 'op')",
                ns_id,
            )
    assert err.value.reason == "NAMESPACE_NOT_FOUND"
    cause = err.value.__cause__
    assert isinstance(cause, asyncpg.ForeignKeyViolationError)
    assert cause.constraint_name == "opstore_ops_namespace_id_fkey"

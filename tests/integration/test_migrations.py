from __future__ import annotations

import asyncio
import hashlib

import asyncpg
import pytest

from artimeta_server.devstack.stack import Stack
from artimeta_server.server import SchemaOutOfDate, Server
from artimeta_server.storage import migrate
from tests.conftest import settings_for, unique_name


def fresh_database(stack: Stack) -> str:
    assert stack.postgres is not None
    name = unique_name("db").replace("-", "_")
    stack.postgres.psql(f"CREATE DATABASE {name}")
    return stack.postgres.dsn(name)


async def schema_fingerprint(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        )
    finally:
        await conn.close()
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()


async def test_applies_everything_once(stack: Stack) -> None:
    dsn = fresh_database(stack)
    applied = await migrate.migrate(dsn)
    assert [m.version for m in applied] == [m.version for m in migrate.available()]
    assert await migrate.migrate(dsn) == []
    conn = await asyncpg.connect(dsn)
    try:
        assert await migrate.pending(conn) == []
        assert await migrate.current_version(conn) == migrate.available()[-1].version
    finally:
        await conn.close()


async def test_concurrent_migrators_leave_one_correct_schema(stack: Stack) -> None:
    dsn = fresh_database(stack)
    reference = fresh_database(stack)
    await migrate.migrate(reference)
    results = await asyncio.gather(*(migrate.migrate(dsn) for _ in range(6)))
    # Exactly one migrator applied the files; the others found nothing to do.
    assert sorted(len(r) for r in results) == [0] * 5 + [len(migrate.available())]
    conn = await asyncpg.connect(dsn)
    try:
        ledger = await conn.fetch("SELECT version FROM artimeta_schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [r["version"] for r in ledger] == [m.version for m in migrate.available()]
    assert await schema_fingerprint(dsn) == await schema_fingerprint(reference)


async def test_refuses_a_changed_migration(stack: Stack) -> None:
    dsn = fresh_database(stack)
    await migrate.migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE artimeta_schema_migrations SET checksum = 'x' WHERE version = 1")
        with pytest.raises(migrate.MigrationError, match="changed after it was applied"):
            await migrate.pending(conn)
    finally:
        await conn.close()
    with pytest.raises(migrate.MigrationError):
        await migrate.migrate(dsn)


async def test_refuses_a_schema_newer_than_the_server(stack: Stack) -> None:
    dsn = fresh_database(stack)
    await migrate.migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO artimeta_schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')"
        )
        with pytest.raises(migrate.MigrationError, match="newer"):
            await migrate.pending(conn)
    finally:
        await conn.close()


async def test_a_failing_migration_rolls_back_alone(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = fresh_database(stack)
    good = migrate.available()
    broken = migrate.Migration(good[-1].version + 1, "broken", "CREATE TABLE half_done (x int); SELECT 1/0;")
    monkeypatch.setattr(migrate, "available", lambda: [*good, broken])
    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate.migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await migrate.current_version(conn) == good[-1].version
    finally:
        await conn.close()


async def test_serve_refuses_an_out_of_date_schema(stack: Stack) -> None:
    dsn = fresh_database(stack)
    server = Server(settings_for(stack, database_url=dsn))
    with pytest.raises(SchemaOutOfDate):
        await server.start()
    # With the flag it migrates and serves.
    port = await server.start(migrate_schema=True)
    assert port > 0
    await server.stop(0)

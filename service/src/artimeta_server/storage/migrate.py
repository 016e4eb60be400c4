"""Forward-only schema migrations.

Files `migrations/NNNN_<what>.sql` are applied in order, each in its own transaction, while one
connection holds a session advisory lock, so migrators started at once on many replicas
serialise and all but the first find nothing to do. A ledger records each version with the
checksum of its file; an applied file that changed is refused, never re-run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

LOCK_KEY = 0x61727469_6D657461 & 0x7FFFFFFFFFFFFFFF  # "artimeta"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LEDGER = """
CREATE TABLE IF NOT EXISTS artimeta_schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files("artimeta_server.storage.migrations").iterdir():
        m = _FILE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version: {versions}")
    return found


async def _applied(conn: asyncpg.Connection) -> dict[int, str]:
    exists = await conn.fetchval("SELECT to_regclass('artimeta_schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, checksum FROM artimeta_schema_migrations")
    return {r["version"]: r["checksum"] for r in rows}


def _check(applied: dict[int, str], known: list[Migration]) -> list[Migration]:
    by_version = {m.version: m for m in known}
    for version, checksum in applied.items():
        mig = by_version.get(version)
        if mig is None:
            raise MigrationError(f"the database has migration {version}, which this server does not know: it is newer")
        if mig.checksum != checksum:
            raise MigrationError(f"migration {version}_{mig.name} changed after it was applied (checksum differs)")
    return [m for m in known if m.version not in applied]


async def pending(conn: asyncpg.Connection) -> list[Migration]:
    """Migrations not yet applied; raises MigrationError if the ledger disagrees with the files."""
    return _check(await _applied(conn), available())


async def current_version(conn: asyncpg.Connection) -> int:
    applied = await _applied(conn)
    return max(applied, default=0)


async def migrate(dsn: str) -> list[Migration]:
    """Applies what is pending; returns what this call applied."""
    conn = await asyncpg.connect(dsn, server_settings={"application_name": "artimeta-migrate"})
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        try:
            await conn.execute(_LEDGER)
            todo = _check(await _applied(conn), available())
            for mig in todo:
                async with conn.transaction():
                    await conn.execute(mig.sql)
                    await conn.execute(
                        "INSERT INTO artimeta_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        mig.version,
                        mig.name,
                        mig.checksum,
                    )
            return todo
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    finally:
        await conn.close()

"""Forward-only schema migrations.

Files `migrations/NNNN_<what>.sql` are applied in order, each in its own transaction, while one
connection holds a session advisory lock, so migrators started at once on many replicas
serialise and all but the first find nothing to do. A ledger records each version with the
checksum of its file; an applied file that changed is refused, never re-run.

One set of files serves plain Postgres and Citus. On Citus (the extension is installed in the
database) each file runs as written, and then, in the same transaction, every table it created
is distributed: by `namespace_id`, co-located with the other distributed tables, or, when it has
no such column or is listed in REFERENCE_TABLES, as a reference table copied to every node.
Citus cannot distribute a table while foreign keys tie it to a local table, nor create a local
table with a foreign key to a distributed one, so the file's new tables are created as plain
local tables (Citus's automatic conversion of tables that reference a reference table is off
for the file), their foreign keys are dropped, the tables distributed, and the keys added back,
now enforced shard by shard. Statements on tables already distributed (an index, a column)
propagate to the shards as usual, one statement at a time: Citus forwards a DDL statement's
query text to the workers, which refuse a text of several commands.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg
import sqlparse

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


# Tables that carry a namespace_id but are read without one (a token is looked up by its id
# alone), so they live whole on every node.
REFERENCE_TABLES = frozenset({"auth_tokens"})
DISTRIBUTION_COLUMN = "namespace_id"


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

    def statements(self) -> list[str]:
        """The file's statements, each with its comments, in order (comment-only text dropped)."""
        return [s for s in sqlparse.split(self.sql) if sqlparse.format(s, strip_comments=True).strip()]


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


async def on_citus(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')"))


_UNDISTRIBUTED = """
SELECT c.relname,
       EXISTS (SELECT 1 FROM pg_attribute a
               WHERE a.attrelid = c.oid AND a.attname = $1 AND a.attnum > 0 AND NOT a.attisdropped) AS keyed
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND c.relname <> 'artimeta_schema_migrations'
  AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid)
ORDER BY c.relname
"""


async def _distribute_new_tables(conn: asyncpg.Connection) -> None:
    """Distributes the tables the migration just created (see the module's docstring)."""
    new = await conn.fetch(_UNDISTRIBUTED, DISTRIBUTION_COLUMN)
    if not new:
        return
    names = [r["relname"] for r in new]
    triggers = await conn.fetch(
        "SELECT tgrelid::regclass::text AS t, tgname FROM pg_trigger"
        " WHERE NOT tgisinternal AND tgrelid = ANY($1::regclass[])",
        names,
    )
    if triggers:
        # A shard's trigger runs on a worker: it sees only its shard and its NOTIFY never
        # reaches the coordinator's listeners.
        listed = ", ".join(f"{r['tgname']} on {r['t']}" for r in triggers)
        raise MigrationError(f"triggers cannot run on Citus tables: {listed}")
    fkeys = await conn.fetch(
        "SELECT conrelid::regclass::text AS t, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid = ANY($1::regclass[]) ORDER BY conrelid, conname",
        names,
    )
    for fk in fkeys:
        await conn.execute(f'ALTER TABLE {fk["t"]} DROP CONSTRAINT "{fk["conname"]}"')
    anchor = await conn.fetchval(
        "SELECT logicalrelid::text FROM pg_dist_partition WHERE partmethod = 'h' ORDER BY colocationid, logicalrelid"
        " LIMIT 1"
    )
    for r in new:
        name = r["relname"]
        if name in REFERENCE_TABLES or not r["keyed"]:
            await conn.execute("SELECT create_reference_table($1::regclass)", name)
            continue
        await conn.execute(
            "SELECT create_distributed_table($1::regclass, $2, colocate_with => $3)",
            name,
            DISTRIBUTION_COLUMN,
            anchor or "none",
        )
        anchor = anchor or name
    for fk in fkeys:
        await conn.execute(f'ALTER TABLE {fk["t"]} ADD CONSTRAINT "{fk["conname"]}" {fk["def"]}')


async def _apply(conn: asyncpg.Connection, mig: Migration, *, citus: bool) -> None:
    if citus:
        # Distributed DDL over one connection per node, so that the tables created, distributed
        # and tied by foreign keys in this one transaction see each other.
        await conn.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
        # New tables stay local until _distribute_new_tables, whatever they reference.
        await conn.execute("SET LOCAL citus.enable_local_reference_table_foreign_keys TO off")
    for statement in mig.statements():
        await conn.execute(statement)
    if citus:
        await conn.execute("RESET citus.enable_local_reference_table_foreign_keys")
        await _distribute_new_tables(conn)


async def migrate(dsn: str) -> list[Migration]:
    """Applies what is pending; returns what this call applied."""
    conn = await asyncpg.connect(dsn, server_settings={"application_name": "artimeta-migrate"})
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        try:
            await conn.execute(_LEDGER)
            todo = _check(await _applied(conn), available())
            citus = await on_citus(conn)
            for mig in todo:
                async with conn.transaction():
                    await _apply(conn, mig, citus=citus)
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

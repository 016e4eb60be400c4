"""The migration runner distributes whatever a later migration creates, with no list to update.

A migration file is appended to the real ones. It creates a table keyed by namespace with
foreign keys to both a reference table and a distributed one (Citus refuses that in a CREATE),
a table without namespace_id, and an index on a table that is already distributed. A second one
creates a table with a trigger, which the runner refuses on Citus.
"""

from __future__ import annotations

import asyncpg
import pytest

from artimeta_server.devstack.citus import CitusCluster
from artimeta_server.storage import migrate
from tests.conftest import unique_name

_PROBE = """
-- A table a later migration might add.
CREATE TABLE probe_items (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    fingerprint  BIGINT NOT NULL,
    note         TEXT NOT NULL DEFAULT 'a;b',
    seq          BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (namespace_id, name, fingerprint),
    FOREIGN KEY (namespace_id, name, fingerprint) REFERENCES arti_graphs (namespace_id, name, fingerprint)
        ON DELETE CASCADE
);
CREATE INDEX probe_items_seq ON probe_items (namespace_id, seq);
CREATE TABLE probe_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX blobs_probe_size ON blobs (namespace_id, size);
"""

_TRIGGER = """
CREATE TABLE probe_triggered (namespace_id BIGINT NOT NULL, id BIGINT NOT NULL, PRIMARY KEY (namespace_id, id));
CREATE FUNCTION probe_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER probe_touch BEFORE INSERT ON probe_triggered FOR EACH ROW EXECUTE FUNCTION probe_touch();
"""


def _with(monkeypatch: pytest.MonkeyPatch, *extra: migrate.Migration) -> None:
    files = migrate.available()
    monkeypatch.setattr(migrate, "available", lambda: [*files, *extra])


async def test_new_tables_are_distributed_by_namespace_or_referenced(
    citus_cluster: CitusCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = citus_cluster.create_database(unique_name("mig").replace("-", "_"))
    _with(monkeypatch, migrate.Migration(9990, "probe", _PROBE))
    applied = await migrate.migrate(dsn)
    assert applied[-1].version == 9990
    conn = await asyncpg.connect(dsn)
    try:
        kinds = {
            r["t"]: (r["partmethod"], r["colocationid"], r["col"])
            for r in await conn.fetch(
                "SELECT logicalrelid::text AS t, partmethod::text, colocationid,"
                " column_to_column_name(logicalrelid, partkey) AS col FROM pg_dist_partition"
            )
        }
        assert kinds["probe_items"] == ("h", kinds["arti_graphs"][1], "namespace_id")
        assert kinds["probe_settings"][0] == "n" and kinds["probe_settings"][2] is None
        assert kinds["namespaces"][0] == "n" and kinds["auth_tokens"][0] == "n"
        hashed = {v[1] for v in kinds.values() if v[0] == "h"}
        assert len(hashed) == 1, "every distributed table is in one co-location group"
        fkeys = await conn.fetch(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = 'probe_items'::regclass"
        )
        assert len(fkeys) == 2
        # The keys hold on the shards: a row naming no graph is refused, and deleting its
        # namespace cascades through the graph to it.
        ns = await conn.fetchval("INSERT INTO namespaces (name) VALUES ('probe') RETURNING id")
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("INSERT INTO probe_items (namespace_id, name, fingerprint) VALUES ($1, 'g', 1)", ns)
        await conn.execute(
            "INSERT INTO arti_graphs (namespace_id, name, fingerprint, document, document_size, document_format,"
            " code_refs) VALUES ($1, 'g', 1, '', 0, 'json', '{}')",
            ns,
        )
        await conn.execute("INSERT INTO probe_items (namespace_id, name, fingerprint) VALUES ($1, 'g', 1)", ns)
        await conn.execute("DELETE FROM namespaces WHERE id = $1", ns)
        assert await conn.fetchval("SELECT count(*) FROM probe_items") == 0
        # The index on a table distributed before reached every shard.
        shard_indexes = await conn.fetchval(
            "SELECT sum(result::int) FROM run_command_on_shards('blobs',"
            " $$SELECT count(*) FROM pg_indexes WHERE tablename = '%s' AND starts_with(indexname, 'blobs_probe_size')$$)"
        )
        shards = await conn.fetchval("SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'blobs'::regclass")
        assert shard_indexes == shards > 1
    finally:
        await conn.close()
    assert await migrate.migrate(dsn) == []


async def test_a_trigger_on_a_new_table_is_refused(
    citus_cluster: CitusCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = citus_cluster.create_database(unique_name("mig").replace("-", "_"))
    _with(monkeypatch, migrate.Migration(9991, "triggered", _TRIGGER))
    with pytest.raises(migrate.MigrationError, match="probe_touch on probe_triggered"):
        await migrate.migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('probe_triggered')") is None
        assert 9991 not in {r["version"] for r in await conn.fetch("SELECT version FROM artimeta_schema_migrations")}
    finally:
        await conn.close()

"""PutRecords' writes on a real Postgres: one statement per table whatever the batch's size, each
record inserted if absent and counted once, a synced record's time kept."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from artimeta_server.domain.cache.models import StoredValue
from artimeta_server.domain.cache.sync_models import (
    ArgumentRecord,
    CallNodeRecord,
    ExecutionRecord,
    JobRecord,
    RecordBatch,
    TagRecord,
)
from artimeta_server.server import Server
from artimeta_server.storage.cache import sync_writes
from tests.api.test_cache_service import h

T = datetime(2025, 6, 7, 8, 9, 10, tzinfo=UTC)


class Counting:
    """The connection, counting the statements sent through it."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.statements: list[str] = []

    async def fetch(self, query: str, *args: Any) -> Any:
        self.statements.append(query)
        return await self._conn.fetch(query, *args)

    async def execute(self, query: str, *args: Any) -> Any:
        self.statements.append(query)
        return await self._conn.execute(query, *args)


def batch(n: int, *, subtree: str = "s") -> RecordBatch:
    return RecordBatch(
        executions=tuple(ExecutionRecord(f"e{i}", '["run"]', f"j{i}", T if i % 2 else None) for i in range(n)),
        jobs=tuple(
            JobRecord(f"j{i}", h(f"t{i}"), f"e{i}", None, h(f"c{i}"), bool(i % 2), "DONE", T, T) for i in range(n)
        ),
        call_nodes=tuple(
            CallNodeRecord(
                h(f"c{i}"),
                "task",
                h(f"t{i}"),
                h(f"a{i}"),
                h(f"v{i}"),
                T,
                (h(f"c{i + 1}"), h(f"c{i + 2}")),
                (h(f"{subtree}{i}"),),
                (ArgumentRecord(h(f"arg{i}"), h(f"v{i}"), 0, None, (h(f"c{i + 1}"),)),),
            )
            for i in range(n)
        ),
        values=tuple(StoredValue(h(f"v{i}"), "builtins.int", "", b"1", None, 1) for i in range(n)),
        tags=tuple(
            TagRecord(h(f"tag{i}"), "Job", f"j{i}", "k", "1", (h(f"tag{i - 1}"),) if i else (), T) for i in range(n)
        ),
    )


async def _put(server: Server, ns: int, records: RecordBatch) -> tuple[int, int]:
    assert server.domain is not None
    async with server.domain.db.transaction() as conn:
        counting = Counting(conn)
        created = await sync_writes.put_records(counting, ns, records)
    return created, len(counting.statements)


async def test_one_statement_per_table_and_each_record_counted_once(server: Server, namespace: str) -> None:
    assert server.domain is not None
    ns = await server.domain.namespaces.resolve(namespace)
    small, statements = await _put(server, ns, batch(2))
    assert small == 10
    # values, executions, jobs, call nodes + edges + subtree tasks + arguments + argument results,
    # tags + tag edits + the currency update; and the change announcement (pg_notify, delivered at
    # commit) that evicts remembered cache-check hits on every replica
    assert statements == 12
    created, statements = await _put(server, ns, batch(300))
    assert (created, statements) == (5 * 298, 12)
    again, _ = await _put(server, ns, batch(300))
    assert again == 0

    async with server.domain.db.connection() as conn:
        counts = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table} WHERE namespace_id = $1", ns)
            for table in ("cache_executions", "cache_jobs", "cache_call_nodes", "cache_values", "tags")
        }
        assert set(counts.values()) == {300}
        assert await conn.fetchval("SELECT count(*) FROM cache_call_edges WHERE namespace_id = $1", ns) == 600
        assert await conn.fetchval("SELECT count(*) FROM cache_argument_results WHERE namespace_id = $1", ns) == 300
        # every tag but the newest is superseded by the next one's edit
        current = await conn.fetch("SELECT tag_hash FROM tags WHERE namespace_id = $1 AND is_current", ns)
        assert [r[0] for r in current] == [h("tag299")]
        times = await conn.fetch(
            "SELECT id, updated_time FROM cache_executions WHERE namespace_id = $1 AND id IN ('e1', 'e2')", ns
        )
        kept = {r["id"]: r["updated_time"] for r in times}
        assert kept["e1"] == T and kept["e2"] > T  # given, or the database's time
        job = await conn.fetchrow("SELECT * FROM cache_jobs WHERE namespace_id = $1 AND id = 'j3'", ns)
        assert (job["call_hash"], job["cached"], job["status"], job["start_time"]) == (h("c3"), True, "DONE", T)


async def test_a_call_node_already_recorded_keeps_its_subtree_and_gains_edges(server: Server, namespace: str) -> None:
    assert server.domain is not None
    ns = await server.domain.namespaces.resolve(namespace)
    (node,) = batch(1).call_nodes
    assert await _put(server, ns, RecordBatch(call_nodes=(replace(node, children=()),))) == (1, 4)
    later = replace(node, subtree_tasks=(h("other"),), arguments=())
    assert (await _put(server, ns, RecordBatch(call_nodes=(later,))))[0] == 0
    async with server.domain.db.connection() as conn:
        subtree = await conn.fetch("SELECT task_hash FROM cache_call_subtree_tasks WHERE namespace_id = $1", ns)
        assert [r[0] for r in subtree] == [h("s0")]
        edges = await conn.fetch(
            "SELECT child_hash, call_order FROM cache_call_edges WHERE namespace_id = $1 ORDER BY call_order", ns
        )
        assert [tuple(r) for r in edges] == [(h("c1"), 0), (h("c2"), 1)]
        assert await conn.fetchval("SELECT count(*) FROM cache_arguments WHERE namespace_id = $1", ns) == 1

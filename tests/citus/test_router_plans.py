"""Every statement the hot RPCs send to a distributed table is planned for one shard.

A server whose connections log each statement (asyncpg's query logger) runs the suites' own
flows for the busiest RPCs in one namespace: cache checks and call nodes, values, tags,
Connection's graphs, snapshots, tags and partitions, op store and lists, records and blobs.
Each distinct statement that names a distributed table is then EXPLAINed on the coordinator
with the arguments it was sent with. A router plan has one task; a bulk insert from arrays is
planned as INSERT ... SELECT "pull to coordinator", which is single-shard too when its SELECT
reads no shard or one (every row carries the one namespace_id parameter, so all go to one
shard): anything else (several tasks, a repartition, a distributed subplan) fails the test.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

import artimeta
from artimeta.v1 import cache_pb2_grpc, opstore_pb2_grpc, tags_pb2_grpc
from artimeta_server.config import Settings
from artimeta_server.server import Server
from tests.api import test_adapter_chariots as chariots
from tests.api import test_cache_service as cache
from tests.api import test_connection as connection
from tests.api import test_lists as lists
from tests.api import test_tag_service as tags
from tests.conftest import unique_name

Statement = tuple[str, tuple[Any, ...]]
# The janitor's sweeps run beside the flows, once a minute per replica, over every namespace by
# design (docs/citus.md lists what fans out): they are no RPC's statements.
_SWEEPS = re.compile(r"^\s*DELETE FROM request_ledger WHERE create_time <= \$1\s*$")
_PLANNED = re.compile(r"^\s*(WITH|SELECT|INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def recorded() -> Iterator[list[Statement]]:
    seen: list[Statement] = []

    def log(q: asyncpg.connection.LoggedQuery) -> None:
        if q.exception is None and q.args and _PLANNED.match(q.query):
            seen.append((q.query, tuple(q.args)))

    original = asyncpg.create_pool

    def create_pool(*args: Any, **kwargs: Any) -> asyncpg.Pool:
        async def init(conn: asyncpg.Connection) -> None:
            conn.add_query_logger(log)

        return original(*args, init=init, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(asyncpg, "create_pool", create_pool)
        yield seen


@pytest.fixture(scope="module")
async def logged_client(recorded: list[Statement], settings: Settings) -> AsyncIterator[artimeta.AsyncClient]:
    srv = Server(settings)
    await srv.start(migrate_schema=True)
    try:
        async with artimeta.AsyncClient(f"127.0.0.1:{srv.port}", timeout=20) as client:
            yield client
    finally:
        await srv.stop(0.5)


async def _in_fresh_namespace(client: artimeta.AsyncClient, flow: Any, *args: Any) -> None:
    name = unique_name()
    await client.create_namespace(name)
    try:
        await flow(client, *args, name) if args else await flow(client, name)
    finally:
        await client.delete_namespace(name, allow_missing=True)


async def _hot_flows(client: artimeta.AsyncClient) -> None:
    cache_stub = client.stub(cache_pb2_grpc.CacheServiceStub)
    tag_stub = client.stub(tags_pb2_grpc.TagServiceStub)
    ops_stub = client.stub(opstore_pb2_grpc.OpStoreServiceStub)
    await _in_fresh_namespace(client, cache.test_check_cache_decision, cache_stub)
    await _in_fresh_namespace(client, cache.test_call_node_hash_matches_redun_and_writes_are_idempotent, cache_stub)
    await _in_fresh_namespace(client, cache.test_jobs_executions_and_handles, cache_stub)
    await _in_fresh_namespace(client, cache.test_records_sync_between_namespaces, cache_stub)
    await _in_fresh_namespace(client, lists.test_executions_newest_first_with_root_task_and_counts, cache_stub)
    await _in_fresh_namespace(client, lists.test_ops_by_name_with_version_counts_prefix_and_pages, ops_stub)
    await _in_fresh_namespace(client, tags.test_supersession_and_history, tag_stub)
    await _in_fresh_namespace(client, connection.test_graph_and_snapshot_roundtrip)
    await _in_fresh_namespace(client, connection.test_tags)
    await _in_fresh_namespace(client, connection.test_partitions_are_a_set_union)
    await _in_fresh_namespace(client, connection.test_snapshot_partitions)
    name = unique_name()
    await client.create_namespace(name)
    try:
        await asyncio.to_thread(chariots.contract, client.target, name)
    finally:
        await client.delete_namespace(name, allow_missing=True)


async def _distributed_tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT logicalrelid::text AS t FROM pg_dist_partition WHERE partmethod = 'h'")
    return [r["t"] for r in rows]


async def _explain(conn: asyncpg.Connection, query: str, args: tuple[Any, ...]) -> str:
    try:
        rows = await conn.fetch("EXPLAIN (COSTS OFF) " + query, *args)
    except asyncpg.FeatureNotSupportedError as exc:
        # Citus cannot EXPLAIN an INSERT ... SELECT from a distributed table with parameters
        # (it executes one well): EXPLAIN the same text with the arguments as typed literals.
        if "could not create distributed plan" not in str(exc):
            raise
        types = [t.name for t in (await conn.prepare(query)).get_parameters()]
        literals = [
            f"{await conn.fetchval(f'SELECT quote_nullable($1::{t}::text)', a)}::{t}"
            for t, a in zip(types, args, strict=True)
        ]
        inlined = re.sub(r"\$(\d+)", lambda m: literals[int(m.group(1)) - 1], query)
        rows = await conn.fetch("EXPLAIN (COSTS OFF) " + inlined)
    return "\n".join(r[0] for r in rows)


def _single_shard(plan: str) -> bool:
    tasks = [int(n) for n in re.findall(r"Task Count: (\d+)", plan)]
    if "repartition" in plan.lower() or "Distributed Subplan" in plan:
        return False
    if "INSERT/SELECT method: pull to coordinator" in plan:
        # The SELECT runs on the coordinator, or as a router query on one shard; its rows all
        # carry the one namespace_id parameter, so they are written to one shard.
        return all(n == 1 for n in tasks)
    return bool(tasks) and all(n == 1 for n in tasks)


async def test_hot_rpc_statements_are_single_shard(
    recorded: list[Statement], logged_client: artimeta.AsyncClient, stack: Any
) -> None:
    await _hot_flows(logged_client)
    # Custom plans: Citus prunes shards by the parameters' values, which a generic plan lacks.
    conn = await asyncpg.connect(stack.postgres.dsn(), server_settings={"plan_cache_mode": "force_custom_plan"})
    try:
        distributed = await _distributed_tables(conn)
        names = re.compile(r"\b(" + "|".join(map(re.escape, distributed)) + r")\b")
        statements: dict[str, tuple[Any, ...]] = {}
        for query, args in recorded:
            if names.search(query) and not _SWEEPS.match(query):
                statements.setdefault(query, args)
        assert len(statements) >= 30, f"only {len(statements)} statements recorded"
        fan_out = []
        for query, args in statements.items():
            plan = await _explain(conn, query, args)
            if not _single_shard(plan):
                fan_out.append(f"{query.strip()}\n{plan}")
    finally:
        await conn.close()
    assert not fan_out, f"{len(fan_out)} of {len(statements)} statements are not single-shard:\n\n" + "\n\n".join(
        fan_out
    )

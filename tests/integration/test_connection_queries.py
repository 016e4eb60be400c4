"""The hot queries of ConnectionService use their indexes (checked with EXPLAIN on real Postgres),
and the in-process cache of immutable rows is scoped by namespace id."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg
import pytest

import artimeta
from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import connection_pb2_grpc, consistency_pb2, graph_pb2
from artimeta.v1 import partition_pb2 as ppb
from artimeta_server.storage.connection.partitions import FILTERED_READ


def _parts(n: int) -> list[ppb.StoragePartition]:
    out = []
    for i in range(n):
        p = ppb.StoragePartition(type="m:P", fields=b'{"path":"/p/%d"}' % i, input_fingerprint=i * 7919 - 10**6)
        p.keys.keys["shard"].int64_key = i
        out.append(p)
    return out


def _nodes(plan: Any) -> list[dict[str, Any]]:
    found = []
    stack = [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.get("Plans", []))
    return found


@pytest.mark.parametrize("analyzed", [False, True])
async def test_input_fingerprint_filter_probes_the_unique_index(
    aclient: artimeta.AsyncClient, namespace: str, stack, analyzed: bool
) -> None:
    parts = _parts(5000)
    stub = aclient.stub(connection_pb2_grpc.ConnectionServiceStub)
    await aclient.call(
        stub.WriteArtifactPartitions,
        pb.WriteArtifactPartitionsRequest(namespace=namespace, storage_fingerprint=4, partitions=parts),
    )
    wanted = parts[::50]
    conn = await asyncpg.connect(stack.postgres.dsn())
    try:
        if analyzed:
            await conn.execute("ANALYZE arti_storage_partitions")
        ns_id = await conn.fetchval("SELECT id FROM namespaces WHERE name = $1", namespace)
        plan = json.loads(
            await conn.fetchval(
                "EXPLAIN (FORMAT JSON) " + FILTERED_READ,
                ns_id,
                4,
                [p.keys.SerializeToString(deterministic=True) for p in wanted],
                [p.input_fingerprint for p in wanted],
                [b""],
            )
        )
    finally:
        await conn.close()
    nodes = _nodes(plan)
    scans = [
        n for n in nodes if n["Node Type"].endswith("Scan") and n.get("Relation Name") == "arti_storage_partitions"
    ]
    assert scans and all(n.get("Index Name") == "arti_storage_partitions_key" for n in scans), plan
    # Each scan is probed with the wanted pair, not the whole storage hashed or merged.
    assert all(".fp)" in n.get("Index Cond", "") or "IS NULL" in n.get("Index Cond", "") for n in scans), plan
    assert not [n for n in nodes if n["Node Type"] in ("Hash Join", "Merge Join", "Seq Scan")], plan


async def test_point_reads_use_primary_keys(aclient: artimeta.AsyncClient, namespace: str, stack) -> None:
    conn = await asyncpg.connect(stack.postgres.dsn())
    try:
        for query in (
            "SELECT * FROM arti_snapshot_tags WHERE namespace_id = 1 AND name = 'g' AND tag = 't'",
            "SELECT * FROM arti_graphs WHERE namespace_id = 1 AND name = 'g' AND fingerprint = 1",
            "SELECT * FROM arti_snapshots WHERE namespace_id = 1 AND name = 'g' AND fingerprint = 1",
            "SELECT * FROM arti_snapshot_partitions WHERE namespace_id = 1 AND name = 'g'"
            " AND snapshot_fingerprint = 1 AND artifact_key = 'a'",
            "SELECT * FROM arti_storage_partitions WHERE namespace_id = 1 AND storage_fingerprint = 1",
        ):
            await conn.execute("SET enable_seqscan = off")
            plan = json.loads(await conn.fetchval("EXPLAIN (FORMAT JSON) " + query))
            assert all(n["Node Type"] != "Seq Scan" for n in _nodes(plan)), (query, plan)
    finally:
        await conn.close()


async def test_cached_graphs_do_not_outlive_their_namespace(aclient: artimeta.AsyncClient, server) -> None:
    from tests.conftest import unique_name

    name = unique_name("cache")
    stub = aclient.stub(connection_pb2_grpc.ConnectionServiceStub)
    read = pb.ReadGraphRequest(namespace=name, name="g", fingerprint=1)
    await aclient.create_namespace(name)
    await aclient.call(
        stub.WriteGraph,
        pb.WriteGraphRequest(namespace=name, graph=graph_pb2.Graph(name="g", fingerprint=1, document=b"old")),
    )
    assert (await aclient.call(stub.ReadGraph, read)).graph.document == b"old"
    hits = server.domain.connections.cache.hits
    assert (await aclient.call(stub.ReadGraph, read)).graph.document == b"old"
    assert server.domain.connections.cache.hits == hits + 1
    # Deleted and re-created under the same name: a new id, so the cached row is not reachable.
    await aclient.delete_namespace(name)
    await aclient.create_namespace(name)
    try:
        with pytest.raises(artimeta.NotFound) as err:
            await aclient.call(stub.ReadGraph, read)
        assert err.value.reason == "GRAPH_NOT_FOUND"
    finally:
        await aclient.delete_namespace(name, allow_missing=True)


async def test_tags_are_read_strongly_at_once_and_cached_within_the_bound(
    aclient: artimeta.AsyncClient, namespace: str, stack, settings
) -> None:
    stub = aclient.stub(connection_pb2_grpc.ConnectionServiceStub)
    for fp in (1, 2):
        await aclient.call(
            stub.WriteSnapshot,
            pb.WriteSnapshotRequest(namespace=namespace, snapshot=graph_pb2.GraphSnapshot(name="g", fingerprint=fp)),
        )
    await aclient.call(
        stub.WriteSnapshotTag,
        pb.WriteSnapshotTagRequest(namespace=namespace, name="g", tag="t", snapshot_fingerprint=1),
    )
    read = pb.ReadSnapshotTagRequest(namespace=namespace, name="g", tag="t")
    assert (await aclient.call(stub.ReadSnapshotTag, read)).snapshot.fingerprint == 1
    # A write that announces nothing (here: straight SQL) moves the tag: a strong read sees it at
    # once, a cached read within the bound ReadConsistency documents (the cache's lifetime).
    conn = await asyncpg.connect(stack.postgres.dsn())
    try:
        await conn.execute(
            "UPDATE arti_snapshot_tags SET snapshot_fingerprint = 2 WHERE namespace_id ="
            " (SELECT id FROM namespaces WHERE name = $1)",
            namespace,
        )
    finally:
        await conn.close()
    strong = pb.ReadSnapshotTagRequest(
        namespace=namespace, name="g", tag="t", consistency=consistency_pb2.READ_CONSISTENCY_STRONG
    )
    assert (await aclient.call(stub.ReadSnapshotTag, strong)).snapshot.fingerprint == 2
    deadline = time.monotonic() + settings.read_cache_ttl_s + 0.5
    while (await aclient.call(stub.ReadSnapshotTag, read)).snapshot.fingerprint != 2:
        assert time.monotonic() < deadline, "a cached tag outlived the read cache's lifetime"
        await asyncio.sleep(0.05)


def _buffers(plan: Any) -> int:
    top = plan[0]["Plan"]
    return int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"])


async def test_a_filtered_read_touches_as_many_pages_whatever_the_storage_size(
    aclient: artimeta.AsyncClient, namespace: str, stack
) -> None:
    """The filter's pages (from EXPLAIN's buffer counts) follow the filter's size: 100 wanted
    pairs out of 10,000 stored touch no more pages than 100 out of 200."""
    stub = aclient.stub(connection_pb2_grpc.ConnectionServiceStub)
    sizes = {5: 200, 6: 10_000}
    wanted: dict[int, list[ppb.StoragePartition]] = {}
    for storage, n in sizes.items():
        parts = _parts(n)
        await aclient.call(
            stub.WriteArtifactPartitions,
            pb.WriteArtifactPartitionsRequest(namespace=namespace, storage_fingerprint=storage, partitions=parts),
        )
        wanted[storage] = parts[:: n // 100]
    conn = await asyncpg.connect(stack.postgres.dsn())
    try:
        await conn.execute("ANALYZE arti_storage_partitions")
        ns_id = await conn.fetchval("SELECT id FROM namespaces WHERE name = $1", namespace)
        touched = {}
        for storage, parts in wanted.items():
            plan = json.loads(
                await conn.fetchval(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + FILTERED_READ,
                    ns_id,
                    storage,
                    [p.keys.SerializeToString(deterministic=True) for p in parts],
                    [p.input_fingerprint for p in parts],
                    [],
                )
            )
            assert plan[0]["Plan"]["Actual Rows"] == len(parts) == 100, plan
            touched[storage] = _buffers(plan)
    finally:
        await conn.close()
    # One descent of the unique index and one heap page per wanted pair, at most.
    assert all(pages <= 6 * 100 for pages in touched.values()), touched
    assert touched[6] <= touched[5] * 1.25, touched

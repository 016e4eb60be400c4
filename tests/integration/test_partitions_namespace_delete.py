"""The partition tables have no foreign key to namespaces (bulk writes would pay for it per row):
a namespace's deletion deletes their rows itself, including rows of a write that races it."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
import pytest

import artimeta
from artimeta.errors import NotFound
from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import connection_pb2_grpc
from artimeta.v1 import partition_pb2 as ppb
from artimeta_server.storage.namespaces.holds import UNREFERENCING_TABLES
from tests.conftest import unique_name

PARTITION_TABLES = ("arti_storage_partitions", "arti_snapshot_partitions")


def _parts(n: int, tag: str) -> list[ppb.StoragePartition]:
    out = []
    for i in range(n):
        p = ppb.StoragePartition(type="m:P", fields=b'{"path":"/%s/%d"}' % (tag.encode(), i), input_fingerprint=i)
        p.keys.keys["shard"].int64_key = i
        out.append(p)
    return out


async def _rows(dsn: str, namespace_id: int) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            t: await conn.fetchval(f"SELECT count(*) FROM {t} WHERE namespace_id = $1", namespace_id)
            for t in PARTITION_TABLES
        }
    finally:
        await conn.close()


async def _write_all(aclient: artimeta.AsyncClient, namespace: str, n: int) -> None:
    stub = aclient.stub(connection_pb2_grpc.ConnectionServiceStub)
    await aclient.call(
        stub.WriteArtifactPartitions,
        pb.WriteArtifactPartitionsRequest(namespace=namespace, storage_fingerprint=1, partitions=_parts(n, "a")),
    )
    await aclient.call(
        stub.WriteSnapshotPartitions,
        pb.WriteSnapshotPartitionsRequest(
            namespace=namespace, name="g", snapshot_fingerprint=2, artifact_key="k", partitions=_parts(n, "s")
        ),
    )
    await aclient.call(
        stub.WriteArtifactAndGraphPartitions,
        pb.WriteArtifactAndGraphPartitionsRequest(
            namespace=namespace,
            name="g",
            snapshot_fingerprint=3,
            artifact_key="k",
            storage_fingerprint=4,
            partitions=_parts(n, "b"),
        ),
    )


def test_only_the_partition_tables_go_without_a_namespace_key() -> None:
    assert set(UNREFERENCING_TABLES) == set(PARTITION_TABLES)


# 10 partitions go in through unnest, 5,000 through the COPY staging table.
@pytest.mark.parametrize("n", [10, 5000])
async def test_deleting_a_namespace_deletes_its_partitions(aclient: artimeta.AsyncClient, stack, n: int) -> None:
    name, other = unique_name(), unique_name()
    ns = await aclient.create_namespace(name)
    kept = await aclient.create_namespace(other)
    await _write_all(aclient, name, n)
    await _write_all(aclient, other, n)
    dsn = stack.postgres.dsn()
    conn = await asyncpg.connect(dsn)
    try:
        ids = {
            r["name"]: r["id"]
            for r in await conn.fetch("SELECT id, name FROM namespaces WHERE name = ANY($1)", [name, other])
        }
    finally:
        await conn.close()
    assert ns.name == name and kept.name == other
    assert await _rows(dsn, ids[name]) == {"arti_storage_partitions": 2 * n, "arti_snapshot_partitions": 2 * n}
    await aclient.delete_namespace(name)
    assert await _rows(dsn, ids[name]) == {"arti_storage_partitions": 0, "arti_snapshot_partitions": 0}
    assert await _rows(dsn, ids[other]) == {"arti_storage_partitions": 2 * n, "arti_snapshot_partitions": 2 * n}
    await aclient.delete_namespace(other)


async def test_a_write_racing_the_deletion_leaves_no_rows(aclient: artimeta.AsyncClient, stack) -> None:
    dsn = stack.postgres.dsn()
    for round_ in range(4):
        name = unique_name()
        await aclient.create_namespace(name)
        conn = await asyncpg.connect(dsn)
        try:
            ns_id = await conn.fetchval("SELECT id FROM namespaces WHERE name = $1", name)
        finally:
            await conn.close()
        writes = [asyncio.ensure_future(_write_all(aclient, name, 3000)) for _ in range(2)]
        await asyncio.sleep(0.05 * round_)
        await aclient.delete_namespace(name)
        for w in writes:
            try:
                await w
            except NotFound as exc:  # the write came after the deletion: nothing was written
                assert exc.code == grpc.StatusCode.NOT_FOUND and exc.reason == "NAMESPACE_NOT_FOUND"
        assert await _rows(dsn, ns_id) == {"arti_storage_partitions": 0, "arti_snapshot_partitions": 0}

"""Bulk partition writes: a large write to a storage with no partition yet is COPYed into the table
itself, and falls back to the staging table and the merge when anything conflicts; the strings of
partitions are checked in the canonicalization pass, with the refusals the request check gives."""

from __future__ import annotations

import asyncio

import pytest

import artimeta
from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import partition_pb2 as ppb
from tests.api.test_connection import as_set, part, read_parts, stub, write_parts

BULK = 3_000  # over the staging threshold (storage/connection/partitions.py: STAGED_FROM)


def _parts(n: int, prefix: str = "b") -> list[ppb.StoragePartition]:
    return [part(f"{prefix}{i}", input_fp=i, d=i) for i in range(n)]


async def test_a_fresh_storage_written_with_its_own_duplicates_counts_each_once(aclient, namespace: str) -> None:
    parts = _parts(BULK)
    # Duplicates in the last rows: the direct COPY fails on them, the merge keeps one of each.
    assert await write_parts(aclient, namespace, 31, parts + parts[-10:]) == BULK
    assert await write_parts(aclient, namespace, 31, parts) == 0
    got = await read_parts(aclient, namespace, 31)
    assert len(got) == BULK and as_set(got) == as_set(parts)


async def test_concurrent_first_writes_of_one_storage_add_each_partition_once(aclient, namespace: str) -> None:
    parts = _parts(BULK, "c")
    results = await asyncio.gather(*(write_parts(aclient, namespace, 32, parts[i::2] + parts) for i in range(3)))
    assert sum(results) == BULK
    assert len(await read_parts(aclient, namespace, 32)) == BULK


async def test_a_fresh_artifact_and_its_graph_take_a_large_write_once(aclient, namespace: str) -> None:
    parts = _parts(BULK, "g")
    req = pb.WriteArtifactAndGraphPartitionsRequest(
        namespace=namespace,
        name="g",
        snapshot_fingerprint=5,
        artifact_key="a",
        storage_fingerprint=33,
        partitions=parts,
    )
    resp = await aclient.call(stub(aclient).WriteArtifactAndGraphPartitions, req)
    assert (resp.artifact_added_count, resp.snapshot_added_count) == (BULK, BULK)
    resp = await aclient.call(stub(aclient).WriteArtifactAndGraphPartitions, req)
    assert (resp.artifact_added_count, resp.snapshot_added_count) == (0, 0)
    snap = pb.ReadSnapshotPartitionsRequest(namespace=namespace, name="g", snapshot_fingerprint=5, artifact_key="a")
    got = [p async for chunk in aclient.stream(stub(aclient).ReadSnapshotPartitions, snap) for p in chunk.partitions]
    assert as_set(got) == as_set(parts) and len(got) == BULK


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (lambda p: setattr(p, "type", "m:P\x00"), "partitions.type"),
        (lambda p: p.keys.keys["a\x00"].null_key.SetInParent(), "partitions.keys.keys"),
    ],
)
async def test_a_nul_in_a_partition_is_refused_before_its_other_faults(aclient, namespace: str, spoil, field) -> None:
    from artimeta_server.rpc.partitions import CHUNK

    parts = _parts(CHUNK + 5, "n")
    parts[3].type = ""  # a fault of the first chunk, met before the NUL of the last one
    spoil(parts[-1])
    with pytest.raises(artimeta.InvalidArgument) as err:
        await write_parts(aclient, namespace, 34, parts)
    assert err.value.reason == "INVALID_CHARACTER" and err.value.metadata["field"] == field
    spoil(parts[2])
    parts[3].type = "m:P"
    parts[-1].CopyFrom(part("fixed"))
    with pytest.raises(artimeta.InvalidArgument) as err:
        await write_parts(aclient, namespace, 34, parts[:10])
    assert err.value.reason == "INVALID_CHARACTER" and err.value.metadata["field"] == field
    assert await read_parts(aclient, namespace, 34) == []

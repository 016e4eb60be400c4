"""What a valid partition is, its identity, and partition writes and reads over in-memory ports."""

from __future__ import annotations

import pytest

from artimeta_server.domain.connection import partitions
from artimeta_server.domain.connection.models import InputFilter, PartitionBatch
from artimeta_server.domain.errors import InvalidArgument
from tests.unit.domain.connection.fakes import connections


def test_identity_is_16_bytes_of_the_canonical_encoding() -> None:
    a, b = partitions.identity(b"partition a"), partitions.identity(b"partition b")
    assert len(a) == partitions.IDENTITY_BYTES == 16
    assert a == partitions.identity(b"partition a") and a != b


@pytest.mark.parametrize("type_", ["", "x" * (partitions.MAX_TYPE + 1)])
def test_a_partition_needs_a_type_of_bounded_length(type_: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        partitions.check_type(type_, "partitions", 3)
    assert err.value.reason == "INVALID_PARTITION" and err.value.metadata == {"field": "partitions[3].type"}
    partitions.check_type("m:P", "partitions", 0)


@pytest.mark.parametrize(
    ("name", "kind", "value", "why"),
    [
        ("", "int64_key", 1, "key names"),
        ("a\x00b", "int64_key", 1, "key names"),
        ("k" * 256, "int64_key", 1, "key names"),
        ("k", None, None, "no value"),
        ("k", "date_key", (2021, 2, 30), "invalid date"),
        ("k", "int8_key", 128, "out of range"),
        ("k", "int8_key", -129, "out of range"),
        ("k", "int16_key", 1 << 15, "out of range"),
    ],
)
def test_bad_keys_are_named(name: str, kind: str | None, value: object, why: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        partitions.check_key("partitions[0]", name, kind, value)
    assert err.value.reason == "INVALID_PARTITION_KEY" and why in str(err.value)
    assert err.value.metadata["field"].startswith("partitions[0].keys[")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("int8_key", -128),
        ("int8_key", 127),
        ("int16_key", -(1 << 15)),
        ("int64_key", 1 << 62),
        ("date_key", (2024, 2, 29)),
    ],
)
def test_good_keys_pass(kind: str, value: object) -> None:
    partitions.check_key("partitions[0]", "k", kind, value)


def test_an_input_filter_names_each_key_once() -> None:
    assert partitions.input_filter([], []) is None
    assert partitions.input_filter([b"a", b"b"], [1, None]) == InputFilter([b"a", b"b"], [1, None])
    with pytest.raises(InvalidArgument) as err:
        partitions.input_filter([b"a", b"a"], [1, 2])
    assert err.value.metadata == {"field": "input_fingerprints"}


def _batch(*items: tuple[bytes, int | None, bytes]) -> PartitionBatch:
    """(keys, input fingerprint, body) each."""
    return PartitionBatch(
        [partitions.identity(b) for _, _, b in items],
        [k for k, _, _ in items],
        [f for _, f, _ in items],
        [b for *_, b in items],
    )


async def _read(conns, storage: int, wanted: InputFilter | None = None) -> list[bytes]:
    return [b async for chunk in conns.partitions.read_artifact_partitions("ns", storage, wanted) for b in chunk]


async def test_writes_are_set_unions_by_identity() -> None:
    conns, _repo, _, _ = connections()
    first = _batch((b"k1", 1, b"p1"), (b"k2", None, b"p2"))
    assert await conns.partitions.write_artifact_partitions("ns", 7, [first]) == 2
    again = _batch((b"k1", 1, b"p1"), (b"k3", 3, b"p3"))
    assert await conns.partitions.write_artifact_partitions("ns", 7, [again, _batch()]) == 1
    assert sorted(await _read(conns, 7)) == [b"p1", b"p2", b"p3"]


async def test_a_filtered_read_matches_keys_and_fingerprints_both() -> None:
    conns, _, _, _ = connections()
    await conns.partitions.write_artifact_partitions(
        "ns", 7, [_batch((b"k1", 1, b"p1"), (b"k2", None, b"p2"), (b"k3", 3, b"p3"))]
    )
    wanted = InputFilter([b"k1", b"k2", b"k3"], [1, None, 4])
    assert sorted(await _read(conns, 7, wanted)) == [b"p1", b"p2"]
    assert len(await _read(conns, 7, InputFilter([], []))) == 3  # an empty filter is no filter


async def test_large_bodies_go_to_the_blob_store_and_come_back() -> None:
    conns, repo, blobs, _ = connections(inline_limit=8)
    big = b"B" * 100
    await conns.partitions.write_artifact_partitions("ns", 7, [_batch((b"k", None, b"small"), (b"l", None, big))])
    rows = list(repo.storage[(1, 7)].values())
    assert (None, next(iter(blobs.data))[1], 100) in rows and (b"small", None, 5) in rows
    assert sorted(await _read(conns, 7)) == sorted([b"small", big])


async def test_reads_stream_in_chunks_bounded_by_rows() -> None:
    conns, _, _, _ = connections(chunk_rows=3)
    await conns.partitions.write_artifact_partitions(
        "ns", 7, [_batch(*[(b"k%d" % i, i, b"p%d" % i) for i in range(10)])]
    )
    sizes = [len(c) async for c in conns.partitions.read_artifact_partitions("ns", 7, None)]
    assert sum(sizes) == 10 and max(sizes) <= 3


async def test_snapshot_partitions_page_in_identity_order() -> None:
    conns, _, _, _ = connections()
    items = [(b"", None, b"p%d" % i) for i in range(5)]
    added = await conns.partitions.write_artifact_and_graph_partitions("ns", "g", 1, "out", 7, [_batch(*items)])
    assert added == (5, 5)
    ordered = [b for _, _, b in sorted(items, key=lambda it: partitions.identity(it[2]))]
    first = await conns.partitions.list_snapshot_partitions("ns", "g", 1, "out", 3, "")
    rest = await conns.partitions.list_snapshot_partitions("ns", "g", 1, "out", 3, first.next_page_token)
    assert first.items + rest.items == ordered and rest.next_page_token == ""
    with pytest.raises(InvalidArgument):
        await conns.partitions.list_snapshot_partitions("ns", "g", 1, "out", 3, "not-a-token")

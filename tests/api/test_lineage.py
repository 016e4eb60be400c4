"""A graph's lineage (GetGraphLineage) and keyset-paged snapshot partitions
(ListSnapshotPartitions) through gRPC against real Postgres and S3."""

from __future__ import annotations

import asyncio

import pytest

import artimeta
from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import graph_pb2
from artimeta.v1 import partition_pb2 as ppb
from tests.api.test_connection import part, stub

INPUT = graph_pb2.LINEAGE_EDGE_KIND_INPUT
OUTPUT = graph_pb2.LINEAGE_EDGE_KIND_OUTPUT


def lineage() -> graph_pb2.GraphLineage:
    """orders, customers -> join -> joined -> report -> summary."""
    return graph_pb2.GraphLineage(
        artifacts=[
            graph_pb2.LineageArtifact(key=k, artifact_class="m:A", type="Int64()", format="JSON()", storage="S()")
            for k in ("orders", "customers", "joined", "summary")
        ],
        producers=[
            graph_pb2.LineageProducer(key="11", name="join", qualname="m:join", version="1.0.0"),
            graph_pb2.LineageProducer(key="-12", name="report", qualname="m:report", version="2"),
        ],
        edges=[
            graph_pb2.LineageEdge(kind=INPUT, artifact_key="orders", producer_key="11", input_name="left"),
            graph_pb2.LineageEdge(kind=INPUT, artifact_key="customers", producer_key="11", input_name="right"),
            graph_pb2.LineageEdge(kind=OUTPUT, artifact_key="joined", producer_key="11"),
            graph_pb2.LineageEdge(kind=INPUT, artifact_key="joined", producer_key="-12", input_name="rows"),
            graph_pb2.LineageEdge(kind=OUTPUT, artifact_key="summary", producer_key="-12", output_position=0),
        ],
    )


async def write_graph(
    c: artimeta.AsyncClient, ns: str, fp: int, lin: graph_pb2.GraphLineage | None, name: str = "g"
) -> bool:
    req = pb.WriteGraphRequest(namespace=ns, graph=graph_pb2.Graph(name=name, fingerprint=fp, document=b"doc"))
    if lin is not None:
        req.lineage.CopyFrom(lin)
    return (await c.call(stub(c).WriteGraph, req)).created


async def get_lineage(c: artimeta.AsyncClient, ns: str, fp: int, name: str = "g") -> pb.GetGraphLineageResponse:
    return await c.call(stub(c).GetGraphLineage, pb.GetGraphLineageRequest(namespace=ns, name=name, fingerprint=fp))


async def test_lineage_is_read_back_as_written(aclient: artimeta.AsyncClient, namespace: str) -> None:
    assert await write_graph(aclient, namespace, 1, lineage())
    got = await get_lineage(aclient, namespace, 1)
    assert got.HasField("lineage") and got.lineage == lineage()


async def test_graph_without_lineage_answers_unset_and_unknown_graph_is_not_found(
    aclient: artimeta.AsyncClient, namespace: str
) -> None:
    await write_graph(aclient, namespace, 2, None)
    assert not (await get_lineage(aclient, namespace, 2)).HasField("lineage")
    # An empty lineage is a recorded one (a graph with no artifacts), not the absence of one.
    await write_graph(aclient, namespace, 3, graph_pb2.GraphLineage())
    got = await get_lineage(aclient, namespace, 3)
    assert got.HasField("lineage") and got.lineage == graph_pb2.GraphLineage()
    with pytest.raises(artimeta.NotFound) as err:
        await get_lineage(aclient, namespace, 404)
    assert err.value.reason == "GRAPH_NOT_FOUND"
    with pytest.raises(artimeta.NotFound) as err:
        await get_lineage(aclient, "no-such-namespace-lineage", 1)
    assert err.value.reason == "NAMESPACE_NOT_FOUND"


async def test_recorded_lineage_never_changes(aclient: artimeta.AsyncClient, namespace: str) -> None:
    # A graph first written without lineage gets the first lineage sent with it ...
    assert await write_graph(aclient, namespace, 5, None)
    assert not await write_graph(aclient, namespace, 5, lineage())
    assert (await get_lineage(aclient, namespace, 5)).lineage == lineage()
    # ... and keeps it: neither another lineage nor a write without one replaces it.
    other = graph_pb2.GraphLineage(artifacts=[graph_pb2.LineageArtifact(key="x")])
    assert not await write_graph(aclient, namespace, 5, other)
    assert not await write_graph(aclient, namespace, 5, None)
    assert (await get_lineage(aclient, namespace, 5)).lineage == lineage()


async def test_concurrent_writers_of_one_graph_leave_one_lineage(aclient: artimeta.AsyncClient, namespace: str) -> None:
    variants = [graph_pb2.GraphLineage(artifacts=[graph_pb2.LineageArtifact(key=f"a{i}")]) for i in range(8)]
    created = await asyncio.gather(*(write_graph(aclient, namespace, 6, v) for v in variants))
    assert sorted(created) == [False] * 7 + [True]
    got = (await get_lineage(aclient, namespace, 6)).lineage
    assert got in variants


def _bad(mutate) -> graph_pb2.GraphLineage:
    lin = lineage()
    mutate(lin)
    return lin


@pytest.mark.parametrize(
    ("lin", "reason", "field"),
    [
        (
            _bad(lambda g: g.edges.add(kind=INPUT, artifact_key="nope", producer_key="11")),
            "DANGLING_LINEAGE_EDGE",
            "lineage.edges[5].artifact_key",
        ),
        (
            _bad(lambda g: g.edges.add(kind=OUTPUT, artifact_key="orders", producer_key="99")),
            "DANGLING_LINEAGE_EDGE",
            "lineage.edges[5].producer_key",
        ),
        (
            _bad(lambda g: g.edges.add(artifact_key="orders", producer_key="11")),
            "INVALID_LINEAGE_EDGE",
            "lineage.edges[5].kind",
        ),
        (_bad(lambda g: g.artifacts.add(key="orders")), "DUPLICATE_LINEAGE_NODE", "lineage.artifacts"),
        (_bad(lambda g: g.producers.add(key="11")), "DUPLICATE_LINEAGE_NODE", "lineage.producers"),
        (_bad(lambda g: g.artifacts.add(key="")), "EMPTY_FIELD", "lineage.artifacts.key"),
        (_bad(lambda g: g.producers.add(key="p", qualname="q" * 1025)), "FIELD_TOO_LONG", "lineage.producers.qualname"),
        (_bad(lambda g: g.artifacts.add(key="nul\x00")), "INVALID_CHARACTER", "lineage.artifacts.key"),
        (
            graph_pb2.GraphLineage(artifacts=[graph_pb2.LineageArtifact(key=str(i)) for i in range(10_001)]),
            "TOO_MANY_LINEAGE_ITEMS",
            "lineage.artifacts",
        ),
    ],
)
async def test_malformed_lineage_is_refused_and_writes_nothing(
    aclient: artimeta.AsyncClient, namespace: str, lin: graph_pb2.GraphLineage, reason: str, field: str
) -> None:
    with pytest.raises(artimeta.InvalidArgument) as err:
        await write_graph(aclient, namespace, 7, lin)
    assert (err.value.reason, err.value.metadata["field"]) == (reason, field)
    # The graph itself is not written either.
    with pytest.raises(artimeta.NotFound):
        await get_lineage(aclient, namespace, 7)


# Keyset-paged snapshot partitions


async def _link(c: artimeta.AsyncClient, ns: str, parts: list[ppb.StoragePartition], artifact: str = "orders") -> None:
    for start in range(0, len(parts), 1000):
        await c.call(
            stub(c).WriteSnapshotPartitions,
            pb.WriteSnapshotPartitionsRequest(
                namespace=ns,
                name="g",
                snapshot_fingerprint=9,
                artifact_key=artifact,
                partitions=parts[start : start + 1000],
            ),
        )


async def _page(c: artimeta.AsyncClient, ns: str, size: int, token: str = "", artifact: str = "orders"):
    return await c.call(
        stub(c).ListSnapshotPartitions,
        pb.ListSnapshotPartitionsRequest(
            namespace=ns, name="g", snapshot_fingerprint=9, artifact_key=artifact, page_size=size, page_token=token
        ),
    )


async def test_pages_cover_every_partition_once(aclient: artimeta.AsyncClient, namespace: str) -> None:
    parts = [part(f"/p/{i}", input_fp=i, content_fp=-i, day=i) for i in range(2_345)]
    # One body too large to keep inline: it comes back from the blob store within its page.
    big = ppb.StoragePartition(type="m:Literal", fields=b'{"value":"' + b"v" * (300 * 1024) + b'"}')
    await _link(aclient, namespace, [*parts, big])
    await _link(aclient, namespace, [part("/other", day=1)], artifact="customers")
    seen: list[bytes] = []
    token, pages = "", 0
    while True:
        page = await _page(aclient, namespace, 1000, token)
        pages += 1
        seen.extend(p.SerializeToString(deterministic=True) for p in page.partitions)
        token = page.next_page_token
        if not token:
            break
        assert len(page.partitions) == 1000
    assert pages == 3 and len(seen) == len(set(seen)) == 2_346
    streamed: list[bytes] = []
    req = pb.ReadSnapshotPartitionsRequest(namespace=namespace, name="g", snapshot_fingerprint=9, artifact_key="orders")
    async for chunk in aclient.stream(stub(aclient).ReadSnapshotPartitions, req):
        streamed.extend(p.SerializeToString(deterministic=True) for p in chunk.partitions)
    assert set(seen) == set(streamed)
    assert big.SerializeToString(deterministic=True) in seen
    # The default page is 100; the order is stable, so the first page is the same every time.
    first = await _page(aclient, namespace, 0)
    assert len(first.partitions) == 100 and first == await _page(aclient, namespace, 0)
    # A page written after a token was issued still continues from where that page ended.
    await _link(aclient, namespace, [part("/late", day=99_999)])
    rest = await _page(aclient, namespace, 1000, first.next_page_token)
    assert not set(p.SerializeToString(deterministic=True) for p in rest.partitions) & {
        p.SerializeToString(deterministic=True) for p in first.partitions
    }


async def test_unknown_artifact_has_an_empty_last_page(aclient: artimeta.AsyncClient, namespace: str) -> None:
    page = await _page(aclient, namespace, 10, artifact="nothing-here")
    assert list(page.partitions) == [] and page.next_page_token == ""


@pytest.mark.parametrize(
    ("size", "token", "reason"),
    [
        (-1, "", "INVALID_PAGE_SIZE"),
        (10, "garbage", "INVALID_PAGE_TOKEN"),
        # A token of another list, and one naming a position no partition list could return.
        (10, "WyJncmFwaHMiLFsiZyIsMV1d", "INVALID_PAGE_TOKEN"),
        (10, "WyJwYXJ0aXRpb25zIixbImFiIl1d", "INVALID_PAGE_TOKEN"),
    ],
)
async def test_bad_page_arguments(
    aclient: artimeta.AsyncClient, namespace: str, size: int, token: str, reason: str
) -> None:
    with pytest.raises(artimeta.InvalidArgument) as err:
        await _page(aclient, namespace, size, token)
    assert err.value.reason == reason


async def test_empty_artifact_key_is_refused(aclient: artimeta.AsyncClient, namespace: str) -> None:
    with pytest.raises(artimeta.InvalidArgument) as err:
        await _page(aclient, namespace, 10, artifact="")
    assert err.value.reason == "EMPTY_FIELD"

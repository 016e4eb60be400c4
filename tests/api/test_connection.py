"""ConnectionService through gRPC against real Postgres and S3: arti's semantics, errors,
pagination, concurrency."""

from __future__ import annotations

import asyncio
import json
import random

import grpc
import pytest

import artimeta
from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import connection_pb2_grpc, consistency_pb2, graph_pb2
from artimeta.v1 import partition_pb2 as ppb


def stub(aclient: artimeta.AsyncClient) -> connection_pb2_grpc.ConnectionServiceStub:
    return aclient.stub(connection_pb2_grpc.ConnectionServiceStub)


def keys(**values: object) -> ppb.CompositeKey:
    ck = ppb.CompositeKey()
    for name, v in values.items():
        if isinstance(v, tuple):
            ck.keys[name].date_key.CopyFrom(ppb.CalendarDate(year=v[0], month=v[1], day=v[2]))
        elif v is None:
            ck.keys[name].null_key.SetInParent()
        else:
            assert isinstance(v, int)
            ck.keys[name].int64_key = v
    return ck


def part(path: str, *, input_fp: int | None = None, content_fp: int | None = 7, **k: object) -> ppb.StoragePartition:
    p = ppb.StoragePartition(type="arti.storage.local:LocalFilePartition", fields=json.dumps({"path": path}).encode())
    if k:
        p.keys.CopyFrom(keys(**k))
    if input_fp is not None:
        p.input_fingerprint = input_fp
    if content_fp is not None:
        p.content_fingerprint = content_fp
    return p


async def read_parts(aclient: artimeta.AsyncClient, ns: str, storage: int, wanted=()) -> list[ppb.StoragePartition]:
    out: list[ppb.StoragePartition] = []
    req = pb.ReadArtifactPartitionsRequest(namespace=ns, storage_fingerprint=storage, input_fingerprints=list(wanted))
    async for chunk in aclient.stream(stub(aclient).ReadArtifactPartitions, req):
        out.extend(chunk.partitions)
    return out


def as_set(parts: list[ppb.StoragePartition]) -> set[bytes]:
    return {p.SerializeToString(deterministic=True) for p in parts}


async def write_parts(aclient: artimeta.AsyncClient, ns: str, storage: int, parts) -> int:
    resp = await aclient.call(
        stub(aclient).WriteArtifactPartitions,
        pb.WriteArtifactPartitionsRequest(namespace=ns, storage_fingerprint=storage, partitions=list(parts)),
    )
    return int(resp.added_count)


async def test_partitions_are_a_set_union(aclient: artimeta.AsyncClient, namespace: str) -> None:
    a, b, c = part("a", input_fp=1, d=1), part("b", input_fp=2, d=2), part("c", d=3)
    assert await write_parts(aclient, namespace, 11, [a, b, a]) == 2
    assert await write_parts(aclient, namespace, 11, [b, c]) == 1
    got = await read_parts(aclient, namespace, 11)
    assert as_set(got) == as_set([a, b, c]) and len(got) == 3
    assert await read_parts(aclient, namespace, 12) == []
    # An empty composite key set explicitly is the same partition as no key at all.
    plain = part("p")
    explicit = part("p")
    explicit.keys.SetInParent()
    assert await write_parts(aclient, namespace, 13, [plain, explicit]) == 1


async def test_input_fingerprint_filter(aclient: artimeta.AsyncClient, namespace: str) -> None:
    parts = [part(f"p{i}", input_fp=i * 10, d=i) for i in range(10)] + [part("nofp", d=100)]
    await write_parts(aclient, namespace, 5, parts)
    wanted = [
        ppb.InputFingerprint(keys=keys(d=1), fingerprint=10),  # match
        ppb.InputFingerprint(keys=keys(d=2), fingerprint=999),  # fingerprint differs
        ppb.InputFingerprint(keys=keys(d=3), fingerprint=30),  # match
        ppb.InputFingerprint(keys=keys(d=100)),  # empty fingerprint matches the unset one
        ppb.InputFingerprint(keys=keys(d=555), fingerprint=5550),  # unknown keys
    ]
    got = await read_parts(aclient, namespace, 5, wanted)
    assert as_set(got) == as_set([parts[1], parts[3], parts[10]])


async def test_large_reads_stream_in_chunks(aclient: artimeta.AsyncClient, namespace: str, server) -> None:
    conns = server.domain.connections.partitions.bodies
    old = conns.chunk_rows
    conns.chunk_rows = 7
    try:
        parts = [part(f"x{i}", input_fp=i, d=i) for i in range(50)]
        await write_parts(aclient, namespace, 9, parts)
        req = pb.ReadArtifactPartitionsRequest(namespace=namespace, storage_fingerprint=9)
        sizes = [len(c.partitions) async for c in aclient.stream(stub(aclient).ReadArtifactPartitions, req)]
    finally:
        conns.chunk_rows = old
    assert sum(sizes) == 50 and len(sizes) >= 7 and max(sizes) <= 7


async def test_graph_and_snapshot_roundtrip(aclient: artimeta.AsyncClient, namespace: str) -> None:
    s = stub(aclient)
    g = graph_pb2.Graph(name="g", fingerprint=-5, document=b"doc" * 3000, document_format="x", code_refs=["m:P"])
    assert (await aclient.call(s.WriteGraph, pb.WriteGraphRequest(namespace=namespace, graph=g))).created
    assert not (await aclient.call(s.WriteGraph, pb.WriteGraphRequest(namespace=namespace, graph=g))).created
    got = (await aclient.call(s.ReadGraph, pb.ReadGraphRequest(namespace=namespace, name="g", fingerprint=-5))).graph
    assert (got.document, got.code_refs, got.document_format, got.document_size) == (g.document, ["m:P"], "x", 9000)
    with pytest.raises(artimeta.NotFound) as err:
        await aclient.call(s.ReadGraph, pb.ReadGraphRequest(namespace=namespace, name="g", fingerprint=6))
    assert err.value.reason == "GRAPH_NOT_FOUND"
    snap = graph_pb2.GraphSnapshot(name="g", fingerprint=42, id=4, graph_fingerprint=-5, document=b"s")
    await aclient.call(s.WriteSnapshot, pb.WriteSnapshotRequest(namespace=namespace, snapshot=snap))
    got_s = (
        await aclient.call(s.ReadSnapshot, pb.ReadSnapshotRequest(namespace=namespace, name="g", fingerprint=42))
    ).snapshot
    assert (got_s.id, got_s.graph_fingerprint, got_s.document) == (4, -5, b"s")
    with pytest.raises(artimeta.NotFound) as err:
        await aclient.call(s.ReadSnapshot, pb.ReadSnapshotRequest(namespace=namespace, name="h", fingerprint=42))
    assert err.value.reason == "SNAPSHOT_NOT_FOUND"


async def _snapshot(aclient: artimeta.AsyncClient, ns: str, fp: int, name: str = "g") -> None:
    snap = graph_pb2.GraphSnapshot(name=name, fingerprint=fp, id=fp, graph_fingerprint=1, document=b"s%d" % fp)
    await aclient.call(stub(aclient).WriteSnapshot, pb.WriteSnapshotRequest(namespace=ns, snapshot=snap))


async def _tag(aclient, ns, fp, *, tag="prod", overwrite=False, expected=None, actor=""):
    req = pb.WriteSnapshotTagRequest(
        namespace=ns, name="g", tag=tag, snapshot_fingerprint=fp, overwrite=overwrite, actor=actor
    )
    if expected is not None:
        req.expected_snapshot_fingerprint = expected
    return await aclient.call(stub(aclient).WriteSnapshotTag, req)


async def test_tags(aclient: artimeta.AsyncClient, namespace: str) -> None:
    s = stub(aclient)
    with pytest.raises(artimeta.NotFound) as err:
        await aclient.call(s.ReadSnapshotTag, pb.ReadSnapshotTagRequest(namespace=namespace, name="g", tag="prod"))
    assert err.value.reason == "TAG_NOT_FOUND"
    with pytest.raises(artimeta.NotFound) as err:
        await _tag(aclient, namespace, 1)
    assert err.value.reason == "SNAPSHOT_NOT_FOUND"
    for fp in (1, 2, 3):
        await _snapshot(aclient, namespace, fp)
    first = await _tag(aclient, namespace, 1, actor="alice")
    assert not first.HasField("previous_snapshot_fingerprint")
    # Exists without overwrite: ALREADY_EXISTS even when it points at the same snapshot.
    for fp in (1, 2):
        with pytest.raises(artimeta.AlreadyExists) as exists:
            await _tag(aclient, namespace, fp)
        assert exists.value.reason == "TAG_EXISTS" and exists.value.metadata["snapshot_fingerprint"] == "1"
    moved = await _tag(aclient, namespace, 2, overwrite=True, actor="bob")
    assert moved.previous_snapshot_fingerprint == 1 and moved.tag.snapshot_fingerprint == 2
    # Compare-and-swap.
    with pytest.raises(artimeta.Aborted) as aborted:
        await _tag(aclient, namespace, 3, expected=1)
    assert aborted.value.reason == "TAG_MOVED" and aborted.value.metadata["snapshot_fingerprint"] == "2"
    await _tag(aclient, namespace, 3, expected=2, actor="carol")
    got = await aclient.call(s.ReadSnapshotTag, pb.ReadSnapshotTagRequest(namespace=namespace, name="g", tag="prod"))
    assert got.snapshot.fingerprint == 3 and got.tag.actor == "carol"
    # History, newest first, paginated.
    moves = []
    token = ""
    while True:
        page = await aclient.call(
            s.ListSnapshotTagHistory,
            pb.ListSnapshotTagHistoryRequest(namespace=namespace, name="g", tag="prod", page_size=2, page_token=token),
        )
        moves.extend(page.moves)
        token = page.next_page_token
        if not token:
            break
    assert [(m.HasField("from_snapshot_fingerprint"), m.to_snapshot_fingerprint, m.actor) for m in moves] == [
        (True, 3, "carol"),
        (True, 2, "bob"),
        (False, 1, "alice"),
    ]
    assert moves[0].from_snapshot_fingerprint == 2


async def test_racing_tag_creators_have_one_winner(target: str, namespace: str, aclient) -> None:
    for fp in range(1, 17):
        await _snapshot(aclient, namespace, fp)
    clients = [artimeta.AsyncClient(target) for _ in range(4)]
    try:

        async def attempt(i: int) -> str:
            try:
                await _tag(clients[i % 4], namespace, i + 1, tag="race")
                return "won"
            except artimeta.AlreadyExists as exc:
                assert exc.reason == "TAG_EXISTS"
                return "exists"

        results = await asyncio.gather(*[attempt(i) for i in range(16)])
    finally:
        for c in clients:
            await c.close()
    assert results.count("won") == 1 and results.count("exists") == 15
    history = await aclient.call(
        stub(aclient).ListSnapshotTagHistory,
        pb.ListSnapshotTagHistoryRequest(namespace=namespace, name="g", tag="race"),
    )
    assert len(history.moves) == 1


async def test_racing_cas_moves_apply_once(aclient, namespace: str) -> None:
    for fp in range(1, 10):
        await _snapshot(aclient, namespace, fp)
    await _tag(aclient, namespace, 1, tag="cas")

    async def attempt(fp: int) -> bool:
        try:
            await _tag(aclient, namespace, fp, tag="cas", expected=1)
            return True
        except artimeta.Aborted:
            return False

    results = await asyncio.gather(*[attempt(fp) for fp in range(2, 10)])
    assert results.count(True) == 1


async def test_concurrent_overlapping_partition_writes_union(aclient, namespace: str) -> None:
    universe = [part(f"u{i}", input_fp=i, d=i) for i in range(300)]
    rng = random.Random(7)
    subsets = [rng.sample(universe, 150) for _ in range(8)]
    added = await asyncio.gather(*[write_parts(aclient, namespace, 77, s) for s in subsets])
    got = await read_parts(aclient, namespace, 77)
    expected = {p.SerializeToString(deterministic=True) for s in subsets for p in s}
    assert as_set(got) == expected and len(got) == len(expected) == sum(added)


async def test_snapshot_partitions(aclient, namespace: str) -> None:
    s = stub(aclient)
    p1, p2 = part("a", input_fp=1, d=1), part("b", input_fp=2, d=2)
    await aclient.call(
        s.WriteSnapshotPartitions,
        pb.WriteSnapshotPartitionsRequest(
            namespace=namespace, name="g", snapshot_fingerprint=9, artifact_key="out", partitions=[p1, p2, p1]
        ),
    )

    async def read(fp: int, key: str) -> list[ppb.StoragePartition]:
        req = pb.ReadSnapshotPartitionsRequest(namespace=namespace, name="g", snapshot_fingerprint=fp, artifact_key=key)
        return [p async for c in aclient.stream(s.ReadSnapshotPartitions, req) for p in c.partitions]

    assert as_set(await read(9, "out")) == as_set([p1, p2])
    assert await read(10, "out") == [] and await read(9, "other") == []
    # Linking to a snapshot does not add to the storage's partitions.
    assert await read_parts(aclient, namespace, 1) == []


async def test_artifact_and_graph_partitions_is_all_or_nothing(aclient, namespace: str, stack) -> None:
    import asyncpg

    s = stub(aclient)
    fn = f"fail_{namespace.replace('-', '_')}"
    req = pb.WriteArtifactAndGraphPartitionsRequest(
        namespace=namespace,
        name="g",
        snapshot_fingerprint=3,
        artifact_key=fn,
        storage_fingerprint=31,
        partitions=[part("a", input_fp=1, d=1), part("b", input_fp=2, d=2)],
    )
    conn = await asyncpg.connect(stack.postgres.dsn())
    try:
        # The second insert of the transaction fails, after the first has been applied. A check
        # constraint rather than a trigger: Citus has no triggers on distributed tables.
        await conn.execute(
            f"ALTER TABLE arti_snapshot_partitions ADD CONSTRAINT {fn} CHECK (artifact_key <> '{fn}') NOT VALID"
        )
        with pytest.raises(artimeta.ArtimetaError) as err:
            await aclient.call(s.WriteArtifactAndGraphPartitions, req)
        assert err.value.code == grpc.StatusCode.INTERNAL
        assert await read_parts(aclient, namespace, 31) == []
    finally:
        await conn.execute(f"ALTER TABLE arti_snapshot_partitions DROP CONSTRAINT {fn}")
        await conn.close()
    resp = await aclient.call(s.WriteArtifactAndGraphPartitions, req)
    assert (resp.artifact_added_count, resp.snapshot_added_count) == (2, 2)
    assert len(await read_parts(aclient, namespace, 31)) == 2


async def test_lists_are_keyset_paginated(aclient, namespace: str) -> None:
    s = stub(aclient)
    for i in range(5):
        g = graph_pb2.Graph(name=f"g{i % 2}", fingerprint=i, document=b"d")
        await aclient.call(s.WriteGraph, pb.WriteGraphRequest(namespace=namespace, graph=g))
    for fp in range(1, 6):
        await _snapshot(aclient, namespace, fp)
    for t in ("a", "b", "c"):
        await _tag(aclient, namespace, 1, tag=t)

    async def collect(method, req_cls, field, **kw):
        out, token = [], ""
        while True:
            page = await aclient.call(method, req_cls(namespace=namespace, page_size=2, page_token=token, **kw))
            out.extend(getattr(page, field))
            token = page.next_page_token
            if not token:
                return out

    graphs = await collect(s.ListGraphs, pb.ListGraphsRequest, "graphs")
    assert [(g.name, g.fingerprint) for g in graphs] == sorted((f"g{i % 2}", i) for i in range(5))
    assert all(g.document == b"" and g.document_size == 1 for g in graphs)
    only = await collect(s.ListGraphs, pb.ListGraphsRequest, "graphs", name="g1")
    assert [g.fingerprint for g in only] == [1, 3]
    snaps = await collect(s.ListSnapshots, pb.ListSnapshotsRequest, "snapshots", name="g")
    assert [x.fingerprint for x in snaps] == [5, 4, 3, 2, 1]
    tags = await collect(s.ListSnapshotTags, pb.ListSnapshotTagsRequest, "tags")
    assert [t.tag for t in tags] == ["a", "b", "c"]
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(s.ListGraphs, pb.ListGraphsRequest(namespace=namespace, page_token="garbage"))
    assert err.value.reason == "INVALID_PAGE_TOKEN"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            lambda p: setattr(p.keys.keys["d"], "int8_key", 300),
            "INVALID_PARTITION_KEY",
        ),
        (
            lambda p: p.keys.keys["d"].date_key.CopyFrom(ppb.CalendarDate(year=2021, month=13, day=1)),
            "INVALID_PARTITION_KEY",
        ),
        (
            lambda p: p.keys.keys[""].int64_key.__class__ and p.keys.keys[""].null_key.SetInParent(),
            "INVALID_PARTITION_KEY",
        ),
        (lambda p: p.keys.keys["novalue"].SetInParent(), "INVALID_PARTITION_KEY"),
        (lambda p: p.ClearField("type"), "INVALID_PARTITION"),
    ],
)
async def test_malformed_partitions_write_nothing(aclient, namespace: str, bad, reason: str) -> None:
    good = part("ok", input_fp=1, d=1)
    broken = part("bad", input_fp=2, d=2)
    bad(broken)
    with pytest.raises(artimeta.InvalidArgument) as err:
        await write_parts(aclient, namespace, 3, [good, broken])
    assert err.value.reason == reason
    assert await read_parts(aclient, namespace, 3) == []


async def test_bad_requests(aclient, namespace: str) -> None:
    s = stub(aclient)
    with pytest.raises(artimeta.NotFound) as nf:
        await aclient.call(s.ReadGraph, pb.ReadGraphRequest(namespace="no-such-namespace", name="g", fingerprint=1))
    assert nf.value.reason == "NAMESPACE_NOT_FOUND"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(
            s.WriteGraph, pb.WriteGraphRequest(namespace=namespace, graph=graph_pb2.Graph(name="", fingerprint=1))
        )
    assert err.value.reason == "EMPTY_FIELD"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(s.ReadSnapshotTag, pb.ReadSnapshotTagRequest(namespace=namespace, name="g", tag=""))
    assert err.value.reason == "EMPTY_FIELD"
    # Too big for the server's message limit: refused by gRPC before any handler runs.
    huge = graph_pb2.Graph(name="g", fingerprint=1, document=b"x" * (5 * 1024 * 1024))
    with pytest.raises(artimeta.ResourceExhausted):
        await aclient.call(s.WriteGraph, pb.WriteGraphRequest(namespace=namespace, graph=huge))
    with pytest.raises(artimeta.NotFound):
        await aclient.call(s.ReadGraph, pb.ReadGraphRequest(namespace=namespace, name="g", fingerprint=1))


async def test_large_partition_values_live_in_the_blob_store(aclient, namespace: str, server, stack) -> None:
    import asyncpg

    big = ppb.StoragePartition(
        type="arti.storage.literal:StringLiteralPartition",
        fields=json.dumps({"id": "x", "value": "v" * 20_000}, sort_keys=True).encode(),
        content_fingerprint=3,
    )
    small = part("s")
    assert await write_parts(aclient, namespace, 8, [big, small]) == 2
    assert await write_parts(aclient, namespace, 8, [big]) == 0
    assert as_set(await read_parts(aclient, namespace, 8)) == as_set([big, small])
    conn = await asyncpg.connect(stack.postgres.dsn())
    try:
        rows = await conn.fetch(
            "SELECT p.body IS NULL AS in_blobs, p.body_size FROM arti_storage_partitions p"
            " JOIN namespaces n ON n.id = p.namespace_id WHERE n.name = $1 ORDER BY p.body_size",
            namespace,
        )
    finally:
        await conn.close()
    assert [r["in_blobs"] for r in rows] == [False, True]


@pytest.fixture(scope="module")
async def small_limits(stack):
    from artimeta_server.server import Server
    from tests.conftest import settings_for

    srv = Server(settings_for(stack, inline_document_limit=100, max_document_bytes=1000))
    await srv.start()
    async with artimeta.AsyncClient(f"127.0.0.1:{srv.port}") as client:
        yield client
    await srv.stop(0.5)


async def test_oversized_documents_are_refused_whole(small_limits: artimeta.AsyncClient, namespace: str) -> None:
    c = small_limits
    s = stub(c)
    big = graph_pb2.Graph(name="g", fingerprint=1, document=b"x" * 1001)
    with pytest.raises(artimeta.InvalidArgument) as err:
        await c.call(s.WriteGraph, pb.WriteGraphRequest(namespace=namespace, graph=big))
    assert err.value.reason == "DOCUMENT_TOO_LARGE" and err.value.metadata["field"] == "graph.document"
    with pytest.raises(artimeta.NotFound):
        await c.call(s.ReadGraph, pb.ReadGraphRequest(namespace=namespace, name="g", fingerprint=1))
    # A partition too large for the limit: none of the batch is written.
    ok = part("fine")
    huge = ppb.StoragePartition(type="m:Literal", fields=b'{"value":"' + b"v" * 2000 + b'"}')
    with pytest.raises(artimeta.InvalidArgument) as err:
        await write_parts(c, namespace, 1, [ok, huge])
    assert err.value.reason == "DOCUMENT_TOO_LARGE"
    assert await read_parts(c, namespace, 1) == []
    # Between the inline limit and the maximum: kept in the blob store, read back whole.
    medium = graph_pb2.Graph(name="g", fingerprint=2, document=b"m" * 900)
    await c.call(s.WriteGraph, pb.WriteGraphRequest(namespace=namespace, graph=medium))
    got = await c.call(s.ReadGraph, pb.ReadGraphRequest(namespace=namespace, name="g", fingerprint=2))
    assert got.graph.document == medium.document


async def test_concurrent_tag_reads_each_get_their_own_tag(aclient, namespace: str, target: str) -> None:
    for fp in range(1, 31):
        await _snapshot(aclient, namespace, fp)
        await _tag(aclient, namespace, fp, tag=f"t{fp}")
    s = stub(aclient)

    async def read(tag: str) -> int:
        try:
            resp = await aclient.call(
                s.ReadSnapshotTag, pb.ReadSnapshotTagRequest(namespace=namespace, name="g", tag=tag)
            )
        except artimeta.NotFound:
            return -1
        return int(resp.snapshot.fingerprint)

    tags = [f"t{i % 32}" for i in range(200)]  # t0 and t31 do not exist
    results = await asyncio.gather(*[read(t) for t in tags])
    assert results == [(-1 if i % 32 in (0, 31) else i % 32) for i in range(200)]
    # A read issued after a move returns the move, even among concurrent readers.
    moved = [_tag(aclient, namespace, 30, tag="t1", overwrite=True)]
    await asyncio.gather(*moved)
    assert (await asyncio.gather(*[read("t1") for _ in range(20)])) == [30] * 20


async def test_a_second_server_reads_what_the_first_wrote(aclient, namespace: str, settings) -> None:
    from artimeta_server.server import Server

    other = Server(settings)
    await other.start()
    try:
        async with artimeta.AsyncClient(f"127.0.0.1:{other.port}") as b:
            a_stub, b_stub = stub(aclient), stub(b)
            for fp in (1, 2):
                await _snapshot(aclient, namespace, fp)
            await _tag(aclient, namespace, 1)
            await write_parts(aclient, namespace, 6, [part("a", input_fp=1, d=1)])
            read = pb.ReadSnapshotTagRequest(namespace=namespace, name="g", tag="prod")
            assert (await b.call(b_stub.ReadSnapshotTag, read)).snapshot.fingerprint == 1
            assert len(await read_parts(b, namespace, 6)) == 1
            assert (await aclient.call(a_stub.ReadSnapshotTag, read)).snapshot.fingerprint == 1
            await _tag(b, namespace, 2, overwrite=True)
            # Moved through the second server: a strong read on the first sees it at once, and its
            # cached reads within the staleness bound ReadConsistency documents.
            strong = pb.ReadSnapshotTagRequest(
                namespace=namespace, name="g", tag="prod", consistency=consistency_pb2.READ_CONSISTENCY_STRONG
            )
            assert (await aclient.call(a_stub.ReadSnapshotTag, strong)).snapshot.fingerprint == 2
            deadline = asyncio.get_running_loop().time() + settings.read_cache_ttl_s + 0.5
            while (await aclient.call(a_stub.ReadSnapshotTag, read)).snapshot.fingerprint != 2:
                assert asyncio.get_running_loop().time() < deadline, "a cached read outlived the staleness bound"
                await asyncio.sleep(0.02)
    finally:
        await other.stop(0.5)


async def test_a_bad_partition_in_a_later_chunk_writes_nothing(aclient, namespace: str) -> None:
    from artimeta_server.rpc.partitions import CHUNK

    parts = [part(f"c{i}", input_fp=i, d=i) for i in range(CHUNK + 5)]
    parts[-1].keys.keys["d"].int8_key = 1000
    with pytest.raises(artimeta.InvalidArgument) as err:
        await write_parts(aclient, namespace, 21, parts)
    assert err.value.reason == "INVALID_PARTITION_KEY" and err.value.metadata["field"].startswith(
        f"partitions[{CHUNK + 4}]"
    )
    assert await read_parts(aclient, namespace, 21) == []
    parts[-1].keys.keys["d"].int64_key = 5
    assert await write_parts(aclient, namespace, 21, parts) == CHUNK + 5
    assert len(await read_parts(aclient, namespace, 21)) == CHUNK + 5


async def test_concurrent_multi_chunk_writes_in_opposite_orders(aclient, namespace: str, monkeypatch) -> None:
    from artimeta_server.rpc import partitions as rpc_partitions

    # Small chunks, so each write is several statements in one transaction; the two writers meet
    # the same rows in opposite orders (a deadlock Postgres breaks by failing one: it is retried).
    monkeypatch.setattr(rpc_partitions, "CHUNK", 40)
    universe = [part(f"o{i}", input_fp=i, d=i) for i in range(400)]
    forward, backward = universe, list(reversed(universe))
    for round_ in range(3):
        results = await asyncio.gather(
            write_parts(aclient, namespace, 300 + round_, forward),
            write_parts(aclient, namespace, 300 + round_, backward),
            write_parts(aclient, namespace, 300 + round_, forward[::2] + backward[::2]),
        )
        assert sum(results) == 400
        got = await read_parts(aclient, namespace, 300 + round_)
        assert as_set(got) == as_set(universe) and len(got) == 400

"""What Python writes for the other languages to read, and checks after they wrote theirs.

Every language computes the same fixture from the same formulas (keep them in step):
client/go/artimeta/conformance_test.go, client/typescript/test/conformance.test.ts and
client/java/src/test/java/dev/artimeta/client/ConformanceTest.java. Partitions are compared as
canonical strings (typed keys sorted by name, exact int64s, fields as hex), so a value that changed
on its way through any language's protobuf runtime shows up as a difference.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import artimeta
from artimeta.v1 import blobs_pb2 as bpb
from artimeta.v1 import blobs_pb2_grpc, connection_pb2_grpc, digest_pb2, graph_pb2
from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import partition_pb2 as ppb
from tests.conftest import unique_name

DESCRIPTION = 'conformance: héllo ✓ 𝄞 "quoted"\ttab'

GRAPH_NAME = "conformance/graph ✓"
GRAPH_FP = -8070450532247928833
# Larger than the test server's inline limit (4 KiB): this document lives in the blob store.
GRAPH_DOC = bytes((i * 7 + 3) % 256 for i in range(6000))
DOC_FORMAT = "application/x-conformance"
GRAPH_CODE_REFS = ["conformance.graph:Graph", "ünï.mod:Thing"]
SNAP_FP = 9223372036854775807
SNAP_ID = -1
SNAP_DOC = b"\x00\xffsnapshot\n"
SNAP_CODE_REFS = ["conformance.snapshot:Snapshot"]
TAG = "prod"
ARTIFACT_KEY = "data"
STORAGE_FP = 1234567890123456789
N_PARTITIONS = 10_000
PAGE_FPS = [-3, -1, 0, 2, 5]  # extra graphs of GRAPH_NAME, listed in pages of 2
PARTITION_TYPE = "arti.storage.local:LocalFilePartition"
# Several upload/download chunks, an odd size.
BLOB = bytes((i * 31 + i // 251) % 256 for i in range(1_500_007))
BLOB_KEY = "conformance/blob"
UPLOAD_CHUNK = 256 * 1024


def labels(writer: str) -> dict[str, str]:
    return {"team": "data-eng", "unicode": "ünï-ß", "writer": writer}


def partition(i: int) -> ppb.StoragePartition:
    p = ppb.StoragePartition(type=PARTITION_TYPE, fields=f'{{"path":"/conformance/part-{i:05d}","size":{i}}}'.encode())
    p.keys.keys["id"].int64_key = i * 1_000_003 - 5_000_000_000
    p.keys.keys["bucket"].int8_key = i % 256 - 128
    p.keys.keys["day"].date_key.CopyFrom(ppb.CalendarDate(year=2000 + i % 30, month=1 + i % 12, day=1 + i % 28))
    p.keys.keys["none"].null_key.SetInParent()
    if i % 2 == 0:
        p.input_fingerprint = i * 2_654_435_761
    p.content_fingerprint = -(i + 1) * 1_099_511_627_777
    return p


def canonical(p: ppb.StoragePartition) -> str:
    keys = []
    for name in sorted(p.keys.keys):
        k = p.keys.keys[name]
        which = k.WhichOneof("key")
        if which == "date_key":
            value = f"date:{k.date_key.year:04d}-{k.date_key.month:02d}-{k.date_key.day:02d}"
        elif which == "null_key":
            value = "null"
        else:
            assert which is not None
            value = f"{which.removesuffix('_key')}:{getattr(k, which)}"
        keys.append(f"{name}={value}")
    inp = str(p.input_fingerprint) if p.HasField("input_fingerprint") else "-"
    content = str(p.content_fingerprint) if p.HasField("content_fingerprint") else "-"
    return f"{';'.join(keys)}|{inp}|{content}|{p.type}|{p.fields.hex()}"


def expected_partitions() -> set[str]:
    return {canonical(partition(i)) for i in range(N_PARTITIONS)}


def graph() -> graph_pb2.Graph:
    return graph_pb2.Graph(
        name=GRAPH_NAME, fingerprint=GRAPH_FP, document=GRAPH_DOC, document_format=DOC_FORMAT, code_refs=GRAPH_CODE_REFS
    )


def snapshot() -> graph_pb2.GraphSnapshot:
    return graph_pb2.GraphSnapshot(
        name=GRAPH_NAME,
        fingerprint=SNAP_FP,
        id=SNAP_ID,
        graph_fingerprint=GRAPH_FP,
        document=SNAP_DOC,
        document_format=DOC_FORMAT,
        code_refs=SNAP_CODE_REFS,
    )


def _stub(client: artimeta.AsyncClient) -> connection_pb2_grpc.ConnectionServiceStub:
    return client.stub(connection_pb2_grpc.ConnectionServiceStub)


async def write_connection(client: artimeta.AsyncClient, ns: str, actor: str) -> None:
    c = _stub(client)
    await client.call(c.WriteGraph, pb.WriteGraphRequest(namespace=ns, graph=graph()))
    for fp in PAGE_FPS:
        page = graph_pb2.Graph(name=GRAPH_NAME, fingerprint=fp, document=b"page")
        await client.call(c.WriteGraph, pb.WriteGraphRequest(namespace=ns, graph=page))
    await client.call(c.WriteSnapshot, pb.WriteSnapshotRequest(namespace=ns, snapshot=snapshot()))
    await client.call(
        c.WriteSnapshotTag,
        pb.WriteSnapshotTagRequest(namespace=ns, name=GRAPH_NAME, tag=TAG, snapshot_fingerprint=SNAP_FP, actor=actor),
    )
    req = pb.WriteArtifactAndGraphPartitionsRequest(
        namespace=ns,
        name=GRAPH_NAME,
        snapshot_fingerprint=SNAP_FP,
        artifact_key=ARTIFACT_KEY,
        storage_fingerprint=STORAGE_FP,
        partitions=[partition(i) for i in range(N_PARTITIONS)],
    )
    resp = await client.call(c.WriteArtifactAndGraphPartitions, req, timeout=120)
    assert (resp.artifact_added_count, resp.snapshot_added_count) == (N_PARTITIONS, N_PARTITIONS)


async def check_connection(client: artimeta.AsyncClient, ns: str, actor: str) -> None:
    """Everything write_connection wrote (by any language) reads back exactly."""
    c = _stub(client)
    g = (await client.call(c.ReadGraph, pb.ReadGraphRequest(namespace=ns, name=GRAPH_NAME, fingerprint=GRAPH_FP))).graph
    assert (g.name, g.fingerprint, g.document, g.document_format, list(g.code_refs), g.document_size) == (
        GRAPH_NAME,
        GRAPH_FP,
        GRAPH_DOC,
        DOC_FORMAT,
        GRAPH_CODE_REFS,
        len(GRAPH_DOC),
    )
    s = (
        await client.call(c.ReadSnapshot, pb.ReadSnapshotRequest(namespace=ns, name=GRAPH_NAME, fingerprint=SNAP_FP))
    ).snapshot
    want = snapshot()
    assert (s.fingerprint, s.id, s.graph_fingerprint, s.document, list(s.code_refs)) == (
        want.fingerprint,
        want.id,
        want.graph_fingerprint,
        want.document,
        list(want.code_refs),
    )
    tagged = await client.call(c.ReadSnapshotTag, pb.ReadSnapshotTagRequest(namespace=ns, name=GRAPH_NAME, tag=TAG))
    assert (tagged.snapshot.fingerprint, tagged.snapshot.document, tagged.tag.actor) == (SNAP_FP, SNAP_DOC, actor)

    listed = []
    token = ""
    while True:
        page = await client.call(
            c.ListGraphs, pb.ListGraphsRequest(namespace=ns, name=GRAPH_NAME, page_size=2, page_token=token)
        )
        assert len(page.graphs) <= 2
        listed += [(gr.fingerprint, gr.document) for gr in page.graphs]
        token = page.next_page_token
        if not token:
            break
    assert listed == [(fp, b"") for fp in sorted([GRAPH_FP, *PAGE_FPS])]

    want_parts = expected_partitions()
    snap_req = pb.ReadSnapshotPartitionsRequest(
        namespace=ns, name=GRAPH_NAME, snapshot_fingerprint=SNAP_FP, artifact_key=ARTIFACT_KEY
    )
    got = [canonical(p) async for chunk in client.stream(c.ReadSnapshotPartitions, snap_req) for p in chunk.partitions]
    assert len(got) == N_PARTITIONS and set(got) == want_parts
    art_req = pb.ReadArtifactPartitionsRequest(namespace=ns, storage_fingerprint=STORAGE_FP)
    got = [canonical(p) async for chunk in client.stream(c.ReadArtifactPartitions, art_req) for p in chunk.partitions]
    assert len(got) == N_PARTITIONS and set(got) == want_parts


def blob_digest() -> digest_pb2.Digest:
    return digest_pb2.Digest(hash=hashlib.sha256(BLOB).hexdigest(), size_bytes=len(BLOB))


async def write_blob(client: artimeta.AsyncClient, ns: str) -> None:
    b = client.stub(blobs_pb2_grpc.BlobServiceStub)

    async def requests() -> AsyncIterator[bpb.UploadRequest]:
        for off in range(0, len(BLOB), UPLOAD_CHUNK):
            first = off == 0
            yield bpb.UploadRequest(
                namespace=ns if first else "",
                digest=blob_digest() if first else None,
                data=BLOB[off : off + UPLOAD_CHUNK],
            )

    uploaded = await client.call(b.Upload, requests())
    assert uploaded.digest == blob_digest()
    await client.call(b.PutKey, bpb.PutKeyRequest(namespace=ns, key=BLOB_KEY, digest=blob_digest()))


async def check_blob(client: artimeta.AsyncClient, ns: str) -> None:
    """The blob under BLOB_KEY downloads in the server's chunks to exactly BLOB, whoever uploaded it."""
    b = client.stub(blobs_pb2_grpc.BlobServiceStub)
    caps = await client.call(b.GetCapabilities, bpb.GetCapabilitiesRequest())
    entry = (await client.call(b.GetKey, bpb.GetKeyRequest(namespace=ns, key=BLOB_KEY))).entry
    assert entry.digest == blob_digest()
    chunks = [c.data async for c in client.stream(b.Download, bpb.DownloadRequest(namespace=ns, digest=entry.digest))]
    data = b"".join(chunks)
    assert len(chunks) == -(-len(BLOB) // caps.chunk_size_bytes)
    assert hashlib.sha256(data).hexdigest() == entry.digest.hash and data == BLOB


@dataclass(frozen=True)
class Exchange:
    python_namespace: str
    write_prefix: str

    @property
    def conn_namespace(self) -> str:
        """Where the suite writes its graph, snapshot, tag and partitions (it creates it)."""
        return f"{self.write_prefix}-conn"

    @property
    def blob_namespace(self) -> str:
        """Where the suite uploads its blob (it creates it)."""
        return f"{self.write_prefix}-blob"

    def env(self, target: str, tls_dir: Path | None) -> dict[str, str]:
        env = {
            "ARTIMETA_TARGET": target,
            "ARTIMETA_PY_NAMESPACE": self.python_namespace,
            "ARTIMETA_WRITE_PREFIX": self.write_prefix,
        }
        if tls_dir is not None:
            env["ARTIMETA_TEST_TLS_DIR"] = str(tls_dir)
        return env


@asynccontextmanager
async def exchange(client: artimeta.AsyncClient, lang: str) -> AsyncIterator[Exchange]:
    """Python writes its namespace, the suite runs in the body, then Python checks what it wrote."""
    ex = Exchange(unique_name(f"py-for-{lang}"), unique_name(lang))
    await client.create_namespace(ex.python_namespace, description=DESCRIPTION, labels=labels("python"))
    try:
        await write_connection(client, ex.python_namespace, actor="python")
        await write_blob(client, ex.python_namespace)
        yield ex
        written = await client.get_namespace(ex.write_prefix)
        assert written.description == DESCRIPTION
        assert dict(written.labels) == labels(lang)
        assert written.HasField("create_time")
        await check_connection(client, ex.conn_namespace, actor=lang)
        await check_blob(client, ex.blob_namespace)
        # The suite cleaned up its pages: only the namespaces left for Python remain.
        leftovers = [ns.name async for ns in client.list_namespaces() if ns.name.startswith(ex.write_prefix + "-")]
        assert leftovers == [ex.blob_namespace, ex.conn_namespace]
    finally:
        for name in (ex.python_namespace, ex.write_prefix, ex.conn_namespace, ex.blob_namespace):
            await client.delete_namespace(name, allow_missing=True)

"""What Python writes for the other languages to read, and checks after they wrote theirs.

Every language computes the same fixture from the same formulas (keep them in step):
client/go/artimeta/*_test.go, client/typescript/test/*.test.ts and
client/java/src/test/java/dev/artimeta/client/*ConformanceTest.java (lineage, lists and records:
lineage_lists_records_test.go, lineage-lists-records.test.ts, LineageListsRecordsConformanceTest.java).
Partitions are compared as canonical strings (typed keys sorted by name, exact int64s, fields as
hex), so a value that changed on its way through any language's protobuf runtime shows up as a
difference.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import artimeta
from artimeta import retries
from artimeta.v1 import blobs_pb2 as bpb
from artimeta.v1 import (
    blobs_pb2_grpc,
    cache_pb2,
    cache_pb2_grpc,
    connection_pb2_grpc,
    digest_pb2,
    graph_pb2,
    opstore_pb2,
    opstore_pb2_grpc,
    records_pb2,
    records_pb2_grpc,
)
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


# Lineage, lists and records: a graph with lineage, paged snapshot partitions, executions, ops and a record.
LINEAGE_NAME = "conformance/lineage ✓"
LINEAGE_FP = -42
SMALL_ARTIFACT_KEY = "small"  # a second artifact of the snapshot, paged by ListSnapshotPartitions
N_SMALL_PARTITIONS = 5
EXECUTION_IDS = [f"conformance-exec-{i}" for i in range(5)]  # recorded in this order
# (name, major, minor, patch, creation_time) registered in this order; "conf/c" only as downstream.
OP_VERSIONS = [
    ("conf/a", "a", "1", "x", 1.5),
    ("conf/a", "a", "2", "x", 2.5),
    ("conf/b", "b", "1", "ü", 3.25),
]
# ListOps: (name, version_count, latest as major.minor.patch@major_number.minor_number.patch_number/time)
OPS_LISTED = [("conf/a", 2, "a.2.x@1.1.0/2.5"), ("conf/b", 1, "b.1.ü@1.0.0/3.25"), ("conf/c", 0, "-")]
RECORD_UUID = "conformanceR"  # the record every writer commits in its own namespace
RECORD_METADATA = {"kind": "conformance ✓", "module": "conf.rec"}
# (path, bytes) of the record's files; a directory "empty" and a symlink "link" -> "a.txt" too.
RECORD_FILES = [("a.txt", b"alpha\n"), ("dir/b.bin", bytes(range(256)) * 3), ("dir/ü.txt", "ünï ✓".encode())]


def lineage() -> graph_pb2.GraphLineage:
    art = graph_pb2.LineageArtifact
    prod = graph_pb2.LineageProducer
    edge = graph_pb2.LineageEdge
    inp, out = graph_pb2.LINEAGE_EDGE_KIND_INPUT, graph_pb2.LINEAGE_EDGE_KIND_OUTPUT
    return graph_pb2.GraphLineage(
        artifacts=[
            art(
                key="in",
                artifact_class="conf.art:Int",
                type="Int64",
                format="JSON",
                storage="LocalFile(path='/d/{x}.json')",
            ),
            art(key="mid ✓", artifact_class="conf.art:Float", type="Float64", format="JSON", storage="LocalFile()"),
            art(key="out", artifact_class="conf.art:Str", type="String", format="JSON", storage="LocalFile()"),
        ],
        producers=[
            prod(key="p1", name="div", qualname="conf.prod:div", version="0.0.1"),
            prod(key="p2 ü", name="fmt", qualname="conf.prod:fmt", version="2"),
        ],
        edges=[
            edge(kind=inp, artifact_key="in", producer_key="p1", input_name="x"),
            edge(kind=out, artifact_key="mid ✓", producer_key="p1", output_position=0),
            edge(kind=inp, artifact_key="mid ✓", producer_key="p2 ü", input_name="y"),
            edge(kind=out, artifact_key="out", producer_key="p2 ü", output_position=1),
        ],
    )


def record_entries() -> list[records_pb2.RecordEntry]:
    """In path order, as GetRecord returns them."""
    kind = records_pb2.RecordEntryKind
    entries = [
        records_pb2.RecordEntry(
            path=path,
            kind=kind.RECORD_ENTRY_KIND_FILE,
            mode=0o644,
            digest=digest_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data)),
            modify_time_ns=1_700_000_000_123_456_789 + i,
        )
        for i, (path, data) in enumerate(RECORD_FILES)
    ]
    entries.append(records_pb2.RecordEntry(path="empty", kind=kind.RECORD_ENTRY_KIND_DIRECTORY, mode=0o755))
    entries.append(
        records_pb2.RecordEntry(path="link", kind=kind.RECORD_ENTRY_KIND_SYMLINK, mode=0o777, link_target="a.txt")
    )
    return sorted(entries, key=lambda e: e.path)


async def write_lineage_lists_records(client: artimeta.AsyncClient, ns: str) -> None:
    """What the suites read of lineage, lists and records in Python's namespace (after write_connection)."""
    c = _stub(client)
    await client.call(
        c.WriteGraph,
        pb.WriteGraphRequest(
            namespace=ns,
            graph=graph_pb2.Graph(name=LINEAGE_NAME, fingerprint=LINEAGE_FP, document=b"{}"),
            lineage=lineage(),
        ),
    )
    await client.call(
        c.WriteSnapshotPartitions,
        pb.WriteSnapshotPartitionsRequest(
            namespace=ns,
            name=GRAPH_NAME,
            snapshot_fingerprint=SNAP_FP,
            artifact_key=SMALL_ARTIFACT_KEY,
            partitions=[partition(i) for i in range(N_SMALL_PARTITIONS)],
        ),
    )
    cache = client.stub(cache_pb2_grpc.CacheServiceStub)
    for i, exec_id in enumerate(EXECUTION_IDS):
        args = ["redun", "run", exec_id, "ü" * i]
        await client.call(cache.RecordExecution, cache_pb2.RecordExecutionRequest(namespace=ns, id=exec_id, args=args))
    ops = client.stub(opstore_pb2_grpc.OpStoreServiceStub)
    for name, major, minor, patch, t in OP_VERSIONS:
        version = opstore_pb2.OpVersion(major=major, minor=minor, patch=patch, creation_time=t)
        downstream = "conf/c" if name == "conf/b" else ""
        await client.call(
            ops.RegisterValidLink,
            opstore_pb2.RegisterValidLinkRequest(
                namespace=ns, upstream_op_name=name, downstream_op_name=downstream, upstream_version=version
            ),
        )
    await commit_record(client, ns)
    # Python reads its own fixture the way every suite does.
    await check_lineage_lists_records_reads(client, ns)


async def commit_record(client: artimeta.AsyncClient, ns: str) -> None:
    b = client.stub(blobs_pb2_grpc.BlobServiceStub)
    digests = [e.digest for e in record_entries() if e.HasField("digest")]
    missing = await client.call(b.FindMissingBlobs, bpb.FindMissingBlobsRequest(namespace=ns, digests=digests))
    assert list(missing.missing_digests) == digests
    for _path, data in RECORD_FILES:

        async def one(data: bytes = data) -> AsyncIterator[bpb.UploadRequest]:
            yield bpb.UploadRequest(namespace=ns, digest=digest_of(data), data=data)

        await client.call(b.Upload, one())
    r = client.stub(records_pb2_grpc.RecordServiceStub)
    await client.call(
        r.CommitRecord,
        records_pb2.CommitRecordRequest(
            namespace=ns, uuid=RECORD_UUID, entries=record_entries(), metadata=RECORD_METADATA, set_metadata=True
        ),
    )


def digest_of(data: bytes) -> digest_pb2.Digest:
    return digest_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def op_summary(o: opstore_pb2.OpSummary) -> tuple[str, int, str]:
    if not o.HasField("latest_version"):
        return (o.name, o.version_count, "-")
    v = o.latest_version
    latest = f"{v.major}.{v.minor}.{v.patch}@{v.major_number}.{v.minor_number}.{v.patch_number}/{v.creation_time!r}"
    return (o.name, o.version_count, latest)


async def check_lineage(client: artimeta.AsyncClient, ns: str) -> None:
    c = _stub(client)
    got = await client.call(
        c.GetGraphLineage, pb.GetGraphLineageRequest(namespace=ns, name=LINEAGE_NAME, fingerprint=LINEAGE_FP)
    )
    assert got.lineage == lineage()


async def check_record(client: artimeta.AsyncClient, ns: str) -> None:
    """The record under RECORD_UUID lists record_entries() and its files download byte-identical."""
    r = client.stub(records_pb2_grpc.RecordServiceStub)
    rec = (await client.call(r.GetRecord, records_pb2.GetRecordRequest(namespace=ns, uuid=RECORD_UUID))).record
    assert list(rec.entries) == record_entries()
    assert dict(rec.metadata) == RECORD_METADATA
    assert (rec.file_count, rec.total_size_bytes) == (len(RECORD_FILES), sum(len(d) for _, d in RECORD_FILES))
    contains = await client.call(r.ContainsRecord, records_pb2.ContainsRecordRequest(namespace=ns, uuid=RECORD_UUID))
    assert (contains.contains, contains.indexed, contains.missing_blobs) == (True, True, 0)
    b = client.stub(blobs_pb2_grpc.BlobServiceStub)
    files = dict(RECORD_FILES)
    for e in rec.entries:
        if e.HasField("digest"):
            req = bpb.DownloadRequest(namespace=ns, digest=e.digest)
            data = b"".join([chunk.data async for chunk in client.stream(b.Download, req)])
            assert data == files[e.path]


async def check_lineage_lists_records_reads(client: artimeta.AsyncClient, ns: str) -> None:
    """What every suite checks in Python's namespace: lineage, small pages, executions, ops, record."""
    await check_lineage(client, ns)
    c = _stub(client)
    parts, token, pages = [], "", 0
    while True:
        req = pb.ListSnapshotPartitionsRequest(
            namespace=ns,
            name=GRAPH_NAME,
            snapshot_fingerprint=SNAP_FP,
            artifact_key=SMALL_ARTIFACT_KEY,
            page_size=2,
            page_token=token,
        )
        page = await client.call(c.ListSnapshotPartitions, req)
        pages += 1
        parts += [canonical(p) for p in page.partitions]
        if not (token := page.next_page_token):
            break
    assert pages == 3 and sorted(parts) == sorted(canonical(partition(i)) for i in range(N_SMALL_PARTITIONS))
    cache = client.stub(cache_pb2_grpc.CacheServiceStub)
    execs, token = [], ""
    while True:
        epage = await client.call(
            cache.ListExecutions, cache_pb2.ListExecutionsRequest(namespace=ns, page_size=2, page_token=token)
        )
        execs += [(e.id, list(e.args), e.job_count) for e in epage.executions]
        if not (token := epage.next_page_token):
            break
    assert execs == [(x, ["redun", "run", x, "ü" * i], 0) for i, x in reversed(list(enumerate(EXECUTION_IDS)))]
    ops = client.stub(opstore_pb2_grpc.OpStoreServiceStub)
    listed, token = [], ""
    while True:
        opage = await client.call(
            ops.ListOps, opstore_pb2.ListOpsRequest(namespace=ns, name_prefix="conf/", page_size=2, page_token=token)
        )
        listed += [op_summary(o) for o in opage.ops]
        if not (token := opage.next_page_token):
            break
    assert listed == OPS_LISTED
    await check_record(client, ns)


def retry_table_file() -> Path:
    """Every RPC's retry class as the proto declares it (read by the Python client), as JSON, for
    each language's suite to compare its own table with."""
    path = Path(tempfile.gettempdir()) / f"artimeta-retry-table-{os.getpid()}.json"
    path.write_text(json.dumps(retries.retry_classes(), sort_keys=True))
    return path


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
            "ARTIMETA_RETRY_TABLE": str(retry_table_file()),
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
        await write_lineage_lists_records(client, ex.python_namespace)
        yield ex
        written = await client.get_namespace(ex.write_prefix)
        assert written.description == DESCRIPTION
        assert dict(written.labels) == labels(lang)
        assert written.HasField("create_time")
        await check_connection(client, ex.conn_namespace, actor=lang)
        await check_blob(client, ex.blob_namespace)
        await check_lineage(client, ex.conn_namespace)
        await check_record(client, ex.blob_namespace)
        # The suite cleaned up its pages: only the namespaces left for Python remain.
        leftovers = [ns.name async for ns in client.list_namespaces() if ns.name.startswith(ex.write_prefix + "-")]
        assert leftovers == [ex.blob_namespace, ex.conn_namespace]
    finally:
        for name in (ex.python_namespace, ex.write_prefix, ex.conn_namespace, ex.blob_namespace):
            await client.delete_namespace(name, allow_missing=True)

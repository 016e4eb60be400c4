// Conformance with Python for lineage, lists and records: graph lineage, paged snapshot partitions,
// executions, ops and records (the fixture of tests/clients/conformance.py).
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { type ArtimetaError, ArtimetaClient, digestOf, FailedPreconditionError, InvalidArgumentError, NotFoundError, v1 } from "@artimeta/client";
import { canonical, partition } from "./partitions";

const GRAPH_NAME = "conformance/graph ✓";
const SNAP_FP = "9223372036854775807";
const LINEAGE_NAME = "conformance/lineage ✓";
const LINEAGE_FP = "-42";
const SMALL_ARTIFACT_KEY = "small";
const N_SMALL_PARTITIONS = 5;
const EXECUTION_IDS = [0, 1, 2, 3, 4].map((i) => `conformance-exec-${i}`);
const OPS_LISTED = ["conf/a|2|a.2.x@1.1.0/2.5", "conf/b|1|b.1.ü@1.0.0/3.25", "conf/c|0|-"];
const RECORD_UUID = "conformanceR";
const RECORD_METADATA = { kind: "conformance ✓", module: "conf.rec" };
const RECORD_FILES: [string, Buffer][] = [
  ["a.txt", Buffer.from("alpha\n")],
  ["dir/b.bin", Buffer.concat([0, 1, 2].map(() => Buffer.from(Array.from({ length: 256 }, (_, i) => i))))],
  ["dir/ü.txt", Buffer.from("ünï ✓")],
];

function lineage(): v1.GraphLineage {
  const { LINEAGE_EDGE_KIND_INPUT: input, LINEAGE_EDGE_KIND_OUTPUT: output } = v1.LineageEdgeKind;
  return v1.GraphLineage.fromPartial({
    artifacts: [
      { key: "in", artifactClass: "conf.art:Int", type: "Int64", format: "JSON", storage: "LocalFile(path='/d/{x}.json')" },
      { key: "mid ✓", artifactClass: "conf.art:Float", type: "Float64", format: "JSON", storage: "LocalFile()" },
      { key: "out", artifactClass: "conf.art:Str", type: "String", format: "JSON", storage: "LocalFile()" },
    ],
    producers: [
      { key: "p1", name: "div", qualname: "conf.prod:div", version: "0.0.1" },
      { key: "p2 ü", name: "fmt", qualname: "conf.prod:fmt", version: "2" },
    ],
    edges: [
      { kind: input, artifactKey: "in", producerKey: "p1", inputName: "x" },
      { kind: output, artifactKey: "mid ✓", producerKey: "p1", outputPosition: 0 },
      { kind: input, artifactKey: "mid ✓", producerKey: "p2 ü", inputName: "y" },
      { kind: output, artifactKey: "out", producerKey: "p2 ü", outputPosition: 1 },
    ],
  });
}

/** In path order, as GetRecord returns them. */
function recordEntries(): v1.RecordEntry[] {
  const K = v1.RecordEntryKind;
  const entries = RECORD_FILES.map(([path, data], i) =>
    v1.RecordEntry.fromPartial({ path, kind: K.RECORD_ENTRY_KIND_FILE, mode: 0o644, digest: digestOf(data), modifyTimeNs: (1_700_000_000_123_456_789n + BigInt(i)).toString() }),
  );
  entries.push(v1.RecordEntry.fromPartial({ path: "empty", kind: K.RECORD_ENTRY_KIND_DIRECTORY, mode: 0o755 }));
  entries.push(v1.RecordEntry.fromPartial({ path: "link", kind: K.RECORD_ENTRY_KIND_SYMLINK, mode: 0o777, linkTarget: "a.txt" }));
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Every item of a keyset-paged list, fetched in pages of at most 2. */
async function allPages<T>(page: (pageToken: string) => Promise<[T[], string]>): Promise<[T[], number]> {
  const items: T[] = [];
  let pages = 0;
  let token = "";
  do {
    const [got, next] = await page(token);
    assert.ok(got.length <= 2);
    items.push(...got);
    pages++;
    token = next;
  } while (token);
  return [items, pages];
}

const reason = (cls: new (...args: never[]) => ArtimetaError, r: string) => (err: unknown) => {
  assert.ok(err instanceof cls, String(err));
  assert.equal(err.reason, r);
  return true;
};

async function checkLineage(client: ArtimetaClient, namespace: string): Promise<void> {
  const got = await client.connection.getGraphLineage(v1.GetGraphLineageRequest.fromPartial({ namespace, name: LINEAGE_NAME, fingerprint: LINEAGE_FP }));
  assert.deepEqual(got.lineage, lineage());
}

async function checkRecord(client: ArtimetaClient, namespace: string): Promise<void> {
  const { record } = await client.records.getRecord(v1.GetRecordRequest.fromPartial({ namespace, uuid: RECORD_UUID }));
  assert.deepEqual(record!.entries, recordEntries());
  assert.deepEqual(record!.metadata, RECORD_METADATA);
  assert.equal(record!.fileCount, String(RECORD_FILES.length));
  const contains = await client.records.containsRecord(v1.ContainsRecordRequest.fromPartial({ namespace, uuid: RECORD_UUID }));
  assert.deepEqual([contains.contains, contains.missingBlobs], [true, "0"]);
  for (const [, data] of RECORD_FILES) assert.ok((await client.getBlob(namespace, digestOf(data))).equals(data));
}

const target = process.env.ARTIMETA_TARGET;
const skip = target ? false : "ARTIMETA_TARGET is not set: the conformance tests need a live server";

describe("lineage, lists and records conformance", { skip }, () => {
  const client = new ArtimetaClient(target ?? "");
  after(() => client.close());

  test("reads what Python wrote", { skip: process.env.ARTIMETA_PY_NAMESPACE ? false : "ARTIMETA_PY_NAMESPACE is not set" }, async () => {
    const namespace = process.env.ARTIMETA_PY_NAMESPACE!;
    await checkLineage(client, namespace);

    const partsReq = { namespace, name: GRAPH_NAME, snapshotFingerprint: SNAP_FP, artifactKey: SMALL_ARTIFACT_KEY };
    const [parts, pages] = await allPages(async (pageToken) => {
      const r = await client.connection.listSnapshotPartitions(v1.ListSnapshotPartitionsRequest.fromPartial({ ...partsReq, pageSize: 2, pageToken }));
      return [r.partitions, r.nextPageToken];
    });
    assert.equal(pages, 3);
    assert.deepEqual(parts.map(canonical).sort(), Array.from({ length: N_SMALL_PARTITIONS }, (_, i) => canonical(partition(i))).sort());

    const [execs] = await allPages(async (pageToken) => {
      const r = await client.cache.listExecutions(v1.ListExecutionsRequest.fromPartial({ namespace, pageSize: 2, pageToken }));
      return [r.executions, r.nextPageToken];
    });
    const wantExecs = EXECUTION_IDS.map((id, i) => [id, ["redun", "run", id, "ü".repeat(i)], "0"]).reverse(); // newest first
    assert.deepEqual(execs.map((e) => [e.id, e.args, e.jobCount]), wantExecs);

    const [ops] = await allPages(async (pageToken) => {
      const r = await client.opStore.listOps(v1.ListOpsRequest.fromPartial({ namespace, namePrefix: "conf/", pageSize: 2, pageToken }));
      return [r.ops, r.nextPageToken];
    });
    const listed = ops.map((o) => {
      const v = o.latestVersion;
      const latest = v ? `${v.major}.${v.minor}.${v.patch}@${v.majorNumber}.${v.minorNumber}.${v.patchNumber}/${v.creationTime}` : "-";
      return `${o.name}|${o.versionCount}|${latest}`;
    });
    assert.deepEqual(listed, OPS_LISTED);

    await checkRecord(client, namespace);

    const badToken = "not-a-token";
    await assert.rejects(
      client.connection.listSnapshotPartitions(v1.ListSnapshotPartitionsRequest.fromPartial({ ...partsReq, pageToken: badToken })),
      reason(InvalidArgumentError, "INVALID_PAGE_TOKEN"),
    );
    await assert.rejects(client.cache.listExecutions(v1.ListExecutionsRequest.fromPartial({ namespace, pageToken: badToken })), reason(InvalidArgumentError, "INVALID_PAGE_TOKEN"));
    await assert.rejects(client.opStore.listOps(v1.ListOpsRequest.fromPartial({ namespace, pageToken: badToken })), reason(InvalidArgumentError, "INVALID_PAGE_TOKEN"));
    await assert.rejects(
      client.connection.getGraphLineage(v1.GetGraphLineageRequest.fromPartial({ namespace, name: LINEAGE_NAME, fingerprint: "1" })),
      reason(NotFoundError, "GRAPH_NOT_FOUND"),
    );
    await assert.rejects(client.records.getRecord(v1.GetRecordRequest.fromPartial({ namespace, uuid: "missingR" })), reason(NotFoundError, "RECORD_NOT_FOUND"));
  });

  test("writes for Python, with typed errors", { skip: process.env.ARTIMETA_WRITE_PREFIX ? false : "ARTIMETA_WRITE_PREFIX is not set" }, async () => {
    // The connection and blob suites create these; Python reads back what is left there.
    const conn = `${process.env.ARTIMETA_WRITE_PREFIX}-conn`;
    const blobs = `${process.env.ARTIMETA_WRITE_PREFIX}-blob`;
    for (const ns of [conn, blobs]) await client.getNamespace(ns).catch(() => client.createNamespace(ns));

    // A dangling edge is refused and writes nothing, not even the graph.
    const graph = { name: LINEAGE_NAME, fingerprint: LINEAGE_FP, document: Buffer.from("{}") };
    const bad = lineage();
    bad.edges.push(v1.LineageEdge.fromPartial({ kind: v1.LineageEdgeKind.LINEAGE_EDGE_KIND_INPUT, artifactKey: "nowhere", producerKey: "p1", inputName: "z" }));
    await assert.rejects(
      client.connection.writeGraph(v1.WriteGraphRequest.fromPartial({ namespace: conn, graph, lineage: bad })),
      reason(InvalidArgumentError, "DANGLING_LINEAGE_EDGE"),
    );
    await assert.rejects(
      client.connection.getGraphLineage(v1.GetGraphLineageRequest.fromPartial({ namespace: conn, name: LINEAGE_NAME, fingerprint: LINEAGE_FP })),
      reason(NotFoundError, "GRAPH_NOT_FOUND"),
    );
    await client.connection.writeGraph(v1.WriteGraphRequest.fromPartial({ namespace: conn, graph, lineage: lineage() }));
    await checkLineage(client, conn);

    // A manifest whose blobs are absent is refused; FindMissingBlobs names them, then they upload.
    const entries = recordEntries();
    await assert.rejects(
      client.records.commitRecord(v1.CommitRecordRequest.fromPartial({ namespace: blobs, uuid: RECORD_UUID, entries })),
      reason(FailedPreconditionError, "MISSING_BLOBS"),
    );
    const digests = RECORD_FILES.map(([, data]) => digestOf(data));
    const { missingDigests } = await client.blobs.findMissingBlobs(v1.FindMissingBlobsRequest.fromPartial({ namespace: blobs, digests }));
    assert.deepEqual(missingDigests, digests);
    for (const [, data] of RECORD_FILES) await client.putBlob(blobs, data);
    const committed = await client.records.commitRecord(
      v1.CommitRecordRequest.fromPartial({ namespace: blobs, uuid: RECORD_UUID, entries, metadata: RECORD_METADATA, setMetadata: true }),
    );
    assert.equal(committed.created, true);
    await checkRecord(client, blobs);
  });
});

// Connection conformance with Python: the same fixture, computed by the same formulas as
// tests/clients/conformance.py; Python reads back what this writes.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { AlreadyExistsError, ArtimetaClient, NotFoundError, v1 } from "@artimeta/client";
import { canonical, partition } from "./partitions";

const GRAPH_NAME = "conformance/graph ✓";
const GRAPH_FP = "-8070450532247928833";
const GRAPH_DOC = Buffer.from(Array.from({ length: 6000 }, (_, i) => (i * 7 + 3) % 256));
const DOC_FORMAT = "application/x-conformance";
const GRAPH_CODE_REFS = ["conformance.graph:Graph", "ünï.mod:Thing"];
const SNAP_FP = "9223372036854775807";
const SNAP_ID = "-1";
const SNAP_DOC = Buffer.from("\x00\xffsnapshot\n", "latin1");
const SNAP_CODE_REFS = ["conformance.snapshot:Snapshot"];
const TAG = "prod";
const ARTIFACT_KEY = "data";
const STORAGE_FP = "1234567890123456789";
const N_PARTITIONS = 10_000;
const PAGE_FPS = ["-3", "-1", "0", "2", "5"];

async function writeConnection(client: ArtimetaClient, ns: string, actor: string): Promise<void> {
  const c = client.connection;
  await c.writeGraph(
    v1.WriteGraphRequest.fromPartial({
      namespace: ns,
      graph: { name: GRAPH_NAME, fingerprint: GRAPH_FP, document: GRAPH_DOC, documentFormat: DOC_FORMAT, codeRefs: GRAPH_CODE_REFS },
    }),
  );
  for (const fp of PAGE_FPS) {
    await c.writeGraph(v1.WriteGraphRequest.fromPartial({ namespace: ns, graph: { name: GRAPH_NAME, fingerprint: fp, document: Buffer.from("page") } }));
  }
  await c.writeSnapshot(
    v1.WriteSnapshotRequest.fromPartial({
      namespace: ns,
      snapshot: { name: GRAPH_NAME, fingerprint: SNAP_FP, id: SNAP_ID, graphFingerprint: GRAPH_FP, document: SNAP_DOC, documentFormat: DOC_FORMAT, codeRefs: SNAP_CODE_REFS },
    }),
  );
  await c.writeSnapshotTag(v1.WriteSnapshotTagRequest.fromPartial({ namespace: ns, name: GRAPH_NAME, tag: TAG, snapshotFingerprint: SNAP_FP, actor }));
  const res = await c.writeArtifactAndGraphPartitions(
    v1.WriteArtifactAndGraphPartitionsRequest.fromPartial({
      namespace: ns,
      name: GRAPH_NAME,
      snapshotFingerprint: SNAP_FP,
      artifactKey: ARTIFACT_KEY,
      storageFingerprint: STORAGE_FP,
      partitions: Array.from({ length: N_PARTITIONS }, (_, i) => partition(i)),
    }),
    { timeoutMs: 120_000 },
  );
  assert.deepEqual([res.artifactAddedCount, res.snapshotAddedCount], [String(N_PARTITIONS), String(N_PARTITIONS)]);
}

async function checkConnection(client: ArtimetaClient, ns: string, actor: string): Promise<void> {
  const c = client.connection;
  const { graph } = await c.readGraph(v1.ReadGraphRequest.fromPartial({ namespace: ns, name: GRAPH_NAME, fingerprint: GRAPH_FP }));
  assert.equal(graph!.name, GRAPH_NAME);
  assert.equal(graph!.fingerprint, GRAPH_FP);
  assert.ok(graph!.document.equals(GRAPH_DOC));
  assert.equal(graph!.documentFormat, DOC_FORMAT);
  assert.deepEqual(graph!.codeRefs, GRAPH_CODE_REFS);
  assert.equal(graph!.documentSize, "6000");

  const { snapshot } = await c.readSnapshot(v1.ReadSnapshotRequest.fromPartial({ namespace: ns, name: GRAPH_NAME, fingerprint: SNAP_FP }));
  assert.deepEqual(
    [snapshot!.fingerprint, snapshot!.id, snapshot!.graphFingerprint, snapshot!.document.toString("hex"), snapshot!.codeRefs],
    [SNAP_FP, SNAP_ID, GRAPH_FP, SNAP_DOC.toString("hex"), SNAP_CODE_REFS],
  );
  const tagged = await c.readSnapshotTag(v1.ReadSnapshotTagRequest.fromPartial({ namespace: ns, name: GRAPH_NAME, tag: TAG }));
  assert.equal(tagged.snapshot!.fingerprint, SNAP_FP);
  assert.ok(tagged.snapshot!.document.equals(SNAP_DOC));
  assert.equal(tagged.tag!.actor, actor);

  const listed: string[] = [];
  let pageToken = "";
  do {
    const page = await c.listGraphs(v1.ListGraphsRequest.fromPartial({ namespace: ns, name: GRAPH_NAME, pageSize: 2, pageToken }));
    assert.ok(page.graphs.length <= 2);
    for (const g of page.graphs) {
      assert.equal(g.document.length, 0);
      listed.push(g.fingerprint);
    }
    pageToken = page.nextPageToken;
  } while (pageToken);
  assert.deepEqual(listed, [GRAPH_FP, ...PAGE_FPS]);

  const want = new Set(Array.from({ length: N_PARTITIONS }, (_, i) => canonical(partition(i))));
  const fromSnapshot: string[] = [];
  const snapReq = v1.ReadSnapshotPartitionsRequest.fromPartial({ namespace: ns, name: GRAPH_NAME, snapshotFingerprint: SNAP_FP, artifactKey: ARTIFACT_KEY });
  for await (const chunk of c.readSnapshotPartitions(snapReq)) fromSnapshot.push(...chunk.partitions.map(canonical));
  assert.equal(fromSnapshot.length, N_PARTITIONS);
  assert.deepEqual(new Set(fromSnapshot), want);
  const fromStorage: string[] = [];
  for await (const chunk of c.readArtifactPartitions(v1.ReadArtifactPartitionsRequest.fromPartial({ namespace: ns, storageFingerprint: STORAGE_FP }))) {
    fromStorage.push(...chunk.partitions.map(canonical));
  }
  assert.equal(fromStorage.length, N_PARTITIONS);
  assert.deepEqual(new Set(fromStorage), want);
}

const target = process.env.ARTIMETA_TARGET;
const skip = target ? false : "ARTIMETA_TARGET is not set: the conformance tests need a live server";

describe("connection conformance", { skip }, () => {
  const client = new ArtimetaClient(target ?? "");
  after(() => client.close());

  test("reads what Python wrote", { skip: process.env.ARTIMETA_PY_NAMESPACE ? false : "ARTIMETA_PY_NAMESPACE is not set" }, async () => {
    await checkConnection(client, process.env.ARTIMETA_PY_NAMESPACE!, "python");
  });

  test("writes for Python, with typed errors", { skip: process.env.ARTIMETA_WRITE_PREFIX ? false : "ARTIMETA_WRITE_PREFIX is not set" }, async () => {
    const ns = `${process.env.ARTIMETA_WRITE_PREFIX}-conn`; // left for Python to read back
    await client.createNamespace(ns);
    await writeConnection(client, ns, "typescript");
    await checkConnection(client, ns, "typescript");
    const c = client.connection;
    const reason = (cls: typeof NotFoundError, r: string) => (err: unknown) => {
      assert.ok(err instanceof cls, String(err));
      assert.equal(err.reason, r);
      return true;
    };
    await assert.rejects(c.readGraph(v1.ReadGraphRequest.fromPartial({ namespace: ns, name: GRAPH_NAME, fingerprint: "1" })), reason(NotFoundError, "GRAPH_NOT_FOUND"));
    await assert.rejects(c.readSnapshotTag(v1.ReadSnapshotTagRequest.fromPartial({ namespace: ns, name: GRAPH_NAME, tag: "nope" })), reason(NotFoundError, "TAG_NOT_FOUND"));
    await assert.rejects(
      c.writeSnapshotTag(v1.WriteSnapshotTagRequest.fromPartial({ namespace: ns, name: GRAPH_NAME, tag: TAG, snapshotFingerprint: SNAP_FP })),
      reason(AlreadyExistsError, "TAG_EXISTS"),
    );
    // A failure inside a server stream surfaces typed too.
    await assert.rejects(async () => {
      for await (const _ of c.readArtifactPartitions(v1.ReadArtifactPartitionsRequest.fromPartial({ namespace: `${ns}-missing`, storageFingerprint: STORAGE_FP }))) {
        // nothing arrives
      }
    }, reason(NotFoundError, "NAMESPACE_NOT_FOUND"));
  });
});

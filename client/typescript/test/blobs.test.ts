// Blob conformance with Python: the same bytes (tests/clients/conformance.py), digests checked both ways.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { ArtimetaClient, digestOf, FailedPreconditionError, NotFoundError, toArtimetaError, v1 } from "@artimeta/client";

const BLOB_KEY = "conformance/blob";
const BLOB = Buffer.from(Array.from({ length: 1_500_007 }, (_, i) => (i * 31 + Math.floor(i / 251)) % 256));

const target = process.env.ARTIMETA_TARGET;
const skip = target ? false : "ARTIMETA_TARGET is not set: the conformance tests need a live server";

async function checkBlob(client: ArtimetaClient, namespace: string): Promise<void> {
  const { entry } = await client.blobs.getKey(v1.GetKeyRequest.fromPartial({ namespace, key: BLOB_KEY }));
  assert.deepEqual(entry!.digest, digestOf(BLOB));
  const data = await client.getBlob(namespace, entry!.digest!);
  assert.ok(data.equals(BLOB));
}

describe("blob conformance", { skip }, () => {
  const client = new ArtimetaClient(target ?? "");
  after(() => client.close());

  test("reads what Python wrote", { skip: process.env.ARTIMETA_PY_NAMESPACE ? false : "ARTIMETA_PY_NAMESPACE is not set" }, async () => {
    await checkBlob(client, process.env.ARTIMETA_PY_NAMESPACE!);
  });

  test("writes for Python, digests checked", { skip: process.env.ARTIMETA_WRITE_PREFIX ? false : "ARTIMETA_WRITE_PREFIX is not set" }, async () => {
    const ns = `${process.env.ARTIMETA_WRITE_PREFIX}-blob`; // left for Python to read back
    await client.createNamespace(ns);
    const digest = await client.putBlob(ns, BLOB);
    assert.deepEqual(digest, digestOf(BLOB));
    await client.blobs.putKey(v1.PutKeyRequest.fromPartial({ namespace: ns, key: BLOB_KEY, digest }));
    await checkBlob(client, ns);
    assert.deepEqual(await client.putBlob(ns, BLOB), digest); // already present: no bytes needed

    // Bytes that do not match the digest are refused and nothing is stored.
    const wrong = digestOf(Buffer.from("something else"));
    const stub = client.stub(v1.BlobServiceClient);
    await assert.rejects(
      new Promise((resolve, reject) => {
        const call = stub.upload((err, res) => (err ? reject(toArtimetaError(err)) : resolve(res)));
        call.write({ namespace: ns, digest: wrong, data: Buffer.from("something elsf") });
        call.end();
      }),
      (err: unknown) => err instanceof FailedPreconditionError && err.reason === "DIGEST_MISMATCH",
    );
    await assert.rejects(
      client.blobs.statBlob(v1.StatBlobRequest.fromPartial({ namespace: ns, digest: wrong })),
      (err: unknown) => err instanceof NotFoundError && err.reason === "BLOB_NOT_FOUND",
    );
    await assert.rejects(client.getBlob(ns, wrong), (err: unknown) => err instanceof NotFoundError && err.reason === "BLOB_NOT_FOUND");
  });
});

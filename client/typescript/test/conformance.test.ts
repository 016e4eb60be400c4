// Cross-language conformance against the live server the test harness started (ARTIMETA_TARGET).
// Python writes, this reads; this writes, Python reads back (tests/clients/conformance.py).
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import {
  AlreadyExistsError,
  ArtimetaClient,
  DeadlineExceededError,
  InvalidArgumentError,
  NotFoundError,
  parseReason,
  v1,
} from "@artimeta/client";

export const DESCRIPTION = 'conformance: héllo ✓ 𝄞 "quoted"\ttab';
export const labels = (writer: string) => ({ team: "data-eng", unicode: "ünï-ß", writer });

const target = process.env.ARTIMETA_TARGET;
const skip = target ? false : "ARTIMETA_TARGET is not set: the conformance tests need a live server";

describe("conformance", { skip }, () => {
  const client = new ArtimetaClient(target ?? "");
  after(() => client.close());

  test("reads what Python wrote", { skip: process.env.ARTIMETA_PY_NAMESPACE ? false : "ARTIMETA_PY_NAMESPACE is not set" }, async () => {
    const ns = await client.getNamespace(process.env.ARTIMETA_PY_NAMESPACE!);
    assert.equal(ns.description, DESCRIPTION);
    assert.deepEqual(ns.labels, labels("python"));
    assert.ok(ns.createTime instanceof Date);
  });

  test("namespace lifecycle, reasons and pages", async () => {
    const prefix = process.env.ARTIMETA_WRITE_PREFIX ?? `ts-${Date.now()}`;
    // Left in place for Python to read back; the harness deletes it.
    await client.createNamespace(prefix, { description: DESCRIPTION, labels: labels("typescript") });
    await assert.rejects(client.createNamespace(prefix), (err: unknown) => {
      assert.ok(err instanceof AlreadyExistsError, String(err));
      assert.equal(err.reason, "NAMESPACE_EXISTS");
      return true;
    });
    await assert.rejects(client.getNamespace(`${prefix}-missing`), (err: unknown) => {
      assert.ok(err instanceof NotFoundError, String(err));
      assert.equal(err.reason, "NAMESPACE_NOT_FOUND");
      // The wire reason parses to the generated ErrorReason value.
      assert.equal(err.typedReason, v1.ErrorReason.ERROR_REASON_NAMESPACE_NOT_FOUND);
      assert.equal(parseReason("UNIMPLEMENTED"), v1.ErrorReason.ERROR_REASON_UNSPECIFIED);
      assert.ok(err.details.length > 0);
      return true;
    });
    await assert.rejects(client.createNamespace(""), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, String(err));
      assert.equal(err.reason, "INVALID_NAME");
      return true;
    });

    const names = [0, 1, 2, 3, 4].map((i) => `${prefix}-p${i}`);
    for (const n of names) await client.createNamespace(n);
    const seen: string[] = [];
    for await (const ns of client.listNamespaces(2)) if (ns.name.startsWith(`${prefix}-p`)) seen.push(ns.name);
    assert.deepEqual(seen, names);

    for (const n of names) assert.equal((await client.deleteNamespace(n)).deleted, true);
    await assert.rejects(client.deleteNamespace(names[0]), NotFoundError);
    assert.equal((await client.deleteNamespace(names[0], { allowMissing: true })).deleted, false);
  });

  test("default deadline", async () => {
    const hasty = new ArtimetaClient(target!, { timeoutMs: 0.001 });
    try {
      await assert.rejects(hasty.getNamespace("anything"), (err: unknown) => {
        assert.ok(err instanceof DeadlineExceededError, String(err));
        assert.equal(err.reason, "DEADLINE_EXCEEDED");
        return true;
      });
    } finally {
      hasty.close();
    }
  });

  test("the quickstart runs", async () => {
    const { execFile } = await import("node:child_process");
    const { promisify } = await import("node:util");
    const path = await import("node:path");
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(__dirname, "..", "examples", "quickstart.js")], {
      env: { ...process.env, ARTIMETA_TARGET: target },
    });
    assert.match(stdout, /NAMESPACE_NOT_FOUND/);
  });
});

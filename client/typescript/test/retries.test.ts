// The client's retry table against the one Python reads from the same proto
// (ARTIMETA_RETRY_TABLE, written by tests/clients/conformance.py), and request_id filling.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { RETRY_CLASSES, retriedMethods, serviceConfig, DEFAULT_RETRY, withRequestId } from "@artimeta/client";

const table = process.env.ARTIMETA_RETRY_TABLE;

test("retry classes match the proto's table", { skip: table ? false : "ARTIMETA_RETRY_TABLE is not set" }, () => {
  const want = JSON.parse(readFileSync(table!, "utf8")) as Record<string, string>;
  assert.deepEqual({ ...RETRY_CLASSES }, want);
  const retried = retriedMethods().map((m) => `/${m.service}/${m.method}`).sort();
  assert.deepEqual(retried, Object.keys(want).filter((k) => want[k] !== "NONE").sort());
  const config = JSON.parse(serviceConfig(DEFAULT_RETRY));
  assert.equal(config.methodConfig[0].name.length, retried.length);
});

test("request_id is filled once, only where the RPC takes one, and a caller's id is kept", () => {
  const filled = withRequestId("/artimeta.v1.TagService/RecordTags", { namespace: "n", requestId: "" }) as { requestId: string };
  assert.match(filled.requestId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const given = { namespace: "n", requestId: "3b241101-e2bb-4255-8caf-4136c566a962" };
  assert.equal(withRequestId("/artimeta.v1.TagService/RecordTags", given), given);
  const read = { namespace: "n" };
  assert.equal(withRequestId("/artimeta.v1.TagService/GetTags", read), read);
});

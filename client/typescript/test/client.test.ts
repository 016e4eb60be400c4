// The wrapper's own behaviour against a small in-process server: retries, token, ErrorInfo.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Metadata, Server, ServerCredentials, status, type ServiceError } from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ArtimetaClient, NotFoundError, UnavailableError, v1 } from "@artimeta/client";
import { ErrorInfo } from "../src/gen/google/rpc/error_details";
import { Status } from "../src/gen/google/rpc/status";

async function flakyServer(
  failFor: number,
  creds: ServerCredentials = ServerCredentials.createInsecure(),
): Promise<{ target: string; calls: () => number; stop: () => void }> {
  let calls = 0;
  const server = new Server();
  const impl: Partial<v1.NamespaceServiceServer> = {
    getNamespace(call, callback) {
      calls += 1;
      if (calls <= failFor) return callback({ code: status.UNAVAILABLE, details: "warming up" } as ServiceError);
      if (call.request.name === "missing") {
        const md = new Metadata();
        const info = ErrorInfo.encode({ reason: "NAMESPACE_NOT_FOUND", domain: "artimeta", metadata: { namespace: "missing" } }).finish();
        const st = Status.encode({
          code: status.NOT_FOUND,
          message: "no such namespace",
          details: [{ typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", value: Buffer.from(info) }],
        }).finish();
        md.set("grpc-status-details-bin", Buffer.from(st));
        return callback({ code: status.NOT_FOUND, details: "no such namespace", metadata: md } as ServiceError);
      }
      const auth = call.metadata.get("authorization")[0];
      callback(null, { namespace: { name: call.request.name, description: String(auth ?? ""), labels: {} } });
    },
  };
  server.addService(v1.NamespaceServiceService, impl as v1.NamespaceServiceServer);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { target: `127.0.0.1:${port}`, calls: () => calls, stop: () => server.forceShutdown() };
}

test("retries UNAVAILABLE and sends the bearer token", async () => {
  const srv = await flakyServer(2);
  const client = new ArtimetaClient(srv.target, { token: "s3cret" });
  try {
    const ns = await client.getNamespace("demo");
    assert.equal(ns.description, "Bearer s3cret");
    assert.equal(srv.calls(), 3);
  } finally {
    client.close();
    srv.stop();
  }
});

test("no retry when disabled", async () => {
  const srv = await flakyServer(1);
  const client = new ArtimetaClient(srv.target, { retry: null });
  try {
    await assert.rejects(client.getNamespace("demo"), UnavailableError);
  } finally {
    client.close();
    srv.stop();
  }
});

test("ErrorInfo becomes a typed error", async () => {
  const srv = await flakyServer(0);
  const client = new ArtimetaClient(srv.target);
  try {
    await assert.rejects(client.getNamespace("missing"), (err: unknown) => {
      assert.ok(err instanceof NotFoundError);
      assert.equal(err.reason, "NAMESPACE_NOT_FOUND");
      assert.deepEqual(err.metadata, { namespace: "missing" });
      return true;
    });
  } finally {
    client.close();
    srv.stop();
  }
});

const tlsDir = process.env.ARTIMETA_TEST_TLS_DIR;

test("TLS with given roots, and the token", { skip: tlsDir ? false : "ARTIMETA_TEST_TLS_DIR is not set" }, async () => {
  const cert = readFileSync(join(tlsDir!, "cert.pem"));
  const key = readFileSync(join(tlsDir!, "key.pem"));
  const srv = await flakyServer(0, ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: key }], false));
  const client = new ArtimetaClient(srv.target, { rootCerts: cert, token: "over-tls" });
  const untrusting = new ArtimetaClient(srv.target, { secure: true, retry: null, timeoutMs: 5000 });
  try {
    assert.equal((await client.getNamespace("demo")).description, "Bearer over-tls");
    // Without the roots the server's certificate is not trusted.
    await assert.rejects(untrusting.getNamespace("demo"), UnavailableError);
  } finally {
    client.close();
    untrusting.close();
    srv.stop();
  }
});

// A Connect client of artimeta in TypeScript, run by Node: the same generated types as the
// console, over the server's HTTP port. Prints what it got as JSON (the tests compare it with what
// the gRPC clients get).
//   node node-client.js http://127.0.0.1:50052 <namespace>
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { NamespaceService } from "../src/gen/artimeta/v1/namespace_pb";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb";

declare const process: { argv: string[]; exitCode?: number };

async function main(): Promise<void> {
  const [baseUrl, name] = process.argv.slice(2);
  // Node has fetch; JSON on the wire, like the curl examples.
  const ns = createClient(NamespaceService, createConnectTransport({ baseUrl, useBinaryFormat: false }));
  const created = await ns.createNamespace({ namespace: { name, description: "from node", labels: { lang: "ts" } } });
  const got = await ns.getNamespace({ name });
  const names: string[] = [];
  let pageToken = "";
  do {
    const page = await ns.listNamespaces({ pageSize: 100, pageToken });
    names.push(...page.namespaces.map((n) => n.name));
    pageToken = page.nextPageToken;
  } while (pageToken);
  const errors: Record<string, unknown> = {};
  for (const [what, call] of [
    ["missing", () => ns.getNamespace({ name: `${name}-missing` })],
    ["duplicate", () => ns.createNamespace({ namespace: { name } })],
    ["bad_name", () => ns.createNamespace({ namespace: { name: "Not A Name" } })],
  ] as const) {
    try {
      await call();
      errors[what] = null;
    } catch (err) {
      const e = ConnectError.from(err);
      const [info] = e.findDetails(ErrorInfoSchema);
      errors[what] = { code: Code[e.code], reason: info?.reason, metadata: info?.metadata };
    }
  }
  console.log(
    JSON.stringify({
      created: { name: created.namespace?.name, labels: created.namespace?.labels },
      got: {
        name: got.namespace?.name,
        description: got.namespace?.description,
        labels: got.namespace?.labels,
        create_time: got.namespace?.createTime
          ? { seconds: got.namespace.createTime.seconds.toString(), nanos: got.namespace.createTime.nanos }
          : null,
      },
      listed: names,
      errors,
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});

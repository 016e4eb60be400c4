import { ArtimetaClient, NotFoundError } from "@artimeta/client";

async function main(): Promise<void> {
  const client = new ArtimetaClient(process.env.ARTIMETA_TARGET ?? "127.0.0.1:50051");
  const name = `team-a-${process.pid}`;
  await client.createNamespace(name, { labels: { owner: "data-eng" } });
  for await (const ns of client.listNamespaces()) console.log(ns.name, ns.labels);
  try {
    await client.getNamespace("nope");
  } catch (err) {
    if (err instanceof NotFoundError) console.log(err.reason); // NAMESPACE_NOT_FOUND
  }
  await client.deleteNamespace(name);
  client.close();
}

main();

// One Connect transport to the page's own origin (the server's HTTP port): no CORS, no CDN.
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";

const transport = createConnectTransport({ baseUrl: window.location.origin, useBinaryFormat: true });

const clients = new Map<DescService, unknown>();

export function client<T extends DescService>(service: T): Client<T> {
  let c = clients.get(service) as Client<T> | undefined;
  if (!c) {
    c = createClient(service, transport);
    clients.set(service, c);
  }
  return c;
}

export interface ServerInfo {
  server_version: string;
  schema_version: number;
  services: string[];
  rows: { [table: string]: number };
}

let info: Promise<ServerInfo> | undefined;

export function serverInfo(): Promise<ServerInfo> {
  info ??= fetch("/console/info.json", { headers: { accept: "application/json" } }).then(async (r) => {
    if (!r.ok) throw new Error(`server info: HTTP ${r.status}`);
    return (await r.json()) as ServerInfo;
  });
  return info;
}

export function hasService(i: ServerInfo, name: string): boolean {
  return i.services.includes(name);
}

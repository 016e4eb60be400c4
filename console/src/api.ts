// One Connect transport to the page's own origin (the server's HTTP port): no CORS, no CDN.
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";

const TOKEN_KEY = "artimeta-token";

/** The bearer token for servers with auth on; kept for this tab only (sessionStorage). */
export function token(): string {
  return window.sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function setToken(value: string): void {
  if (value) window.sessionStorage.setItem(TOKEN_KEY, value);
  else window.sessionStorage.removeItem(TOKEN_KEY);
  info = undefined;
}

const withToken: Interceptor = (next) => (req) => {
  const t = token();
  if (t) req.header.set("authorization", `Bearer ${t}`);
  return next(req);
};

const transport = createConnectTransport({
  baseUrl: window.location.origin,
  useBinaryFormat: true,
  interceptors: [withToken],
});

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
  services: string[];
  auth: string;
  // Absent when auth is on and no valid token was sent.
  schema_version?: number;
  rows?: { [table: string]: number };
}

let info: Promise<ServerInfo> | undefined;

export function serverInfo(): Promise<ServerInfo> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (token()) headers.authorization = `Bearer ${token()}`;
  info ??= fetch("/console/info.json", { headers }).then(async (r) => {
    if (!r.ok) throw new Error(`server info: HTTP ${r.status}`);
    return (await r.json()) as ServerInfo;
  });
  return info;
}

export function hasService(i: ServerInfo, name: string): boolean {
  return i.services.includes(name);
}

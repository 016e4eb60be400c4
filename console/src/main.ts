// The artimeta console: read-only views over the server's own Connect API, same origin.
import { serverInfo } from "./api";
import { h } from "./dom";
import { start } from "./router";
import "./views/namespaces";

async function header(): Promise<void> {
  const el = document.getElementById("server-info")!;
  try {
    const info = await serverInfo();
    const rows = info.rows;
    const counts = Object.keys(rows)
      .filter((t) => !t.endsWith("_tombstones"))
      .sort()
      .map((t) => h("span", { "data-table": t }, `${t} `, h("b", {}, rows[t].toLocaleString("en-US"))));
    el.replaceChildren(
      h("span", { "data-testid": "server-version" }, "server ", h("b", {}, info.server_version)),
      h("span", { "data-testid": "schema-version" }, "schema ", h("b", {}, String(info.schema_version))),
      ...counts,
    );
  } catch (err) {
    el.replaceChildren(h("span", { title: String(err) }, "server info unavailable"));
  }
}

start();
void header();

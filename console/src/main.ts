// The artimeta console: read-only views over the server's own Connect API, same origin.
import { serverInfo } from "./api";
import { h } from "./dom";
import { start } from "./router";
import "./views/namespaces";
import "./views/arti";
import "./views/records";
import "./views/redun";
import "./views/lists";

async function header(): Promise<void> {
  const el = document.getElementById("server-info")!;
  try {
    const info = await serverInfo();
    const rows = info.rows ?? {};
    const tables = Object.keys(rows)
      .filter((t) => !t.endsWith("_tombstones"))
      .sort();
    const total = tables.reduce((n, t) => n + rows[t], 0);
    el.replaceChildren(
      h("span", { "data-testid": "server-version" }, "server ", h("b", {}, info.server_version)),
      h("span", { "data-testid": "schema-version" }, "schema ", h("b", {}, info.schema_version === undefined ? "—" : String(info.schema_version))),
      h("span", { "data-testid": "namespace-count" }, "namespaces ", h("b", {}, (rows.namespaces ?? 0).toLocaleString("en-US"))),
      h(
        "details",
        { class: "counts" },
        h("summary", {}, h("b", {}, total.toLocaleString("en-US")), ` rows in ${tables.length} tables`),
        h(
          "table",
          {},
          h("tbody", {}, tables.map((t) => h("tr", { "data-table": t }, h("td", {}, t), h("td", { class: "num" }, rows[t].toLocaleString("en-US"))))),
        ),
      ),
    );
  } catch (err) {
    el.replaceChildren(h("span", { title: String(err) }, "server info unavailable"));
  }
}

start();
void header();

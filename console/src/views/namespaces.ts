import { timestampDate } from "@bufbuild/protobuf/wkt";
import { client, serverInfo, hasService } from "../api";
import { empty, h, labels, link, when } from "../dom";
import { NamespaceService } from "../gen/artimeta/v1/namespace_pb";
import { href, route, seg } from "../router";

const PAGE_SIZE = 50;

/** Tabs of a namespace page; a view module adds its tab when its service is served. */
export interface NamespaceTab {
  service: string;
  label: string;
  path: (ns: string) => string;
}

export const namespaceTabs: NamespaceTab[] = [];

export async function tabsFor(ns: string, active?: string): Promise<HTMLElement> {
  const info = await serverInfo();
  const tabs = namespaceTabs.filter((t) => hasService(info, t.service));
  return h(
    "nav",
    { class: "tabs", "data-testid": "tabs" },
    link(href(`/ns/${seg(ns)}`), "overview"),
    tabs.map((t) => {
      const a = link(t.path(ns), t.label);
      if (t.label === active) a.className = "active";
      return a;
    }),
  );
}

route("/", async (_, query) => {
  const page = query.get("page") ?? "";
  const res = await client(NamespaceService).listNamespaces({ pageSize: PAGE_SIZE, pageToken: page });
  const body = h("section", {}, h("h1", {}, "Namespaces"));
  if (!res.namespaces.length) {
    body.append(
      empty(
        page ? "No more namespaces." : "No namespaces yet.",
        "Create one with any client, e.g. curl -H 'Content-Type: application/json' -d '{\"namespace\":{\"name\":\"demo\"}}' " +
          `${window.location.origin}/artimeta.v1.NamespaceService/CreateNamespace`,
      ),
    );
  } else {
    body.append(
      h(
        "table",
        { "data-testid": "namespaces" },
        h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", {}, "description"), h("th", {}, "labels"), h("th", {}, "created"))),
        h(
          "tbody",
          {},
          res.namespaces.map((ns) =>
            h(
              "tr",
              {},
              h("td", {}, link(href(`/ns/${seg(ns.name)}`), ns.name)),
              h("td", {}, ns.description || h("span", { class: "muted" }, "—")),
              h("td", {}, labels(ns.labels)),
              h("td", { class: "mono" }, when(ns.createTime ? timestampDate(ns.createTime) : undefined)),
            ),
          ),
        ),
      ),
    );
  }
  body.append(
    h(
      "div",
      { class: "pager" },
      page ? link(href("/"), "« first page") : null,
      res.nextPageToken ? h("a", { href: href("/", { page: res.nextPageToken }), "data-testid": "next-page" }, "next page »") : null,
    ),
  );
  return { title: "Namespaces", crumbs: [{ label: "namespaces", href: href("/") }], body };
});

route("/ns/:ns", async ({ ns }) => {
  const res = await client(NamespaceService).getNamespace({ name: ns });
  const n = res.namespace!;
  const body = h(
    "section",
    {},
    h("h1", { "data-testid": "namespace-name" }, n.name),
    h(
      "div",
      { class: "card" },
      h(
        "dl",
        { class: "props" },
        h("dt", {}, "description"),
        h("dd", {}, n.description || h("span", { class: "muted" }, "—")),
        h("dt", {}, "labels"),
        h("dd", {}, labels(n.labels)),
        h("dt", {}, "created"),
        h("dd", { class: "mono" }, when(n.createTime ? timestampDate(n.createTime) : undefined)),
      ),
    ),
    await tabsFor(n.name),
  );
  return { title: n.name, crumbs: [{ label: "namespaces", href: href("/") }, { label: n.name }], body };
});

// Paged lists to pick from: a namespace's redun executions (newest first; each opens its job and
// call tree) and its chariots ops (by name; each opens its versions). Keyset page tokens ride in
// the URL (?page=…), so every page has its own address and the back button walks them.
import { client } from "../api";
import { empty, h, inlineForm, link } from "../dom";
import { ts } from "../format";
import { CacheService, type ExecutionSummary } from "../gen/artimeta/v1/cache_pb";
import { OpStoreService, type OpSummary } from "../gen/artimeta/v1/opstore_pb";
import { href, navigate, route, seg, type Crumb } from "../router";
import { tabsFor } from "./namespaces";

const PAGE_SIZE = 50;

function crumbs(ns: string, ...more: Crumb[]): Crumb[] {
  return [{ label: "namespaces", href: href("/") }, { label: ns, href: href(`/ns/${seg(ns)}`) }, ...more];
}

function pager(base: string, page: string, next: string, keep: Record<string, string> = {}): HTMLElement {
  return h(
    "div",
    { class: "pager" },
    page ? h("a", { href: href(base, keep), "data-testid": "first-page" }, "« first page") : null,
    next ? h("a", { href: href(base, { ...keep, page: next }), "data-testid": "next-page" }, "next page »") : null,
  );
}

function table(testid: string, columns: string[], rows: HTMLElement[]): HTMLElement {
  return h(
    "table",
    { "data-testid": testid },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows),
  );
}

const executionHref = (ns: string, id: string) => href(`/ns/${seg(ns)}/redun/executions/${seg(id)}`);

function executionRow(ns: string, e: ExecutionSummary): HTMLElement {
  const hits = Number(e.cachedJobCount);
  const jobs = Number(e.jobCount);
  return h(
    "tr",
    { "data-execution": e.id },
    h("td", { class: "mono" }, link(executionHref(ns, e.id), e.id)),
    h("td", { class: "mono" }, ts(e.startTime ?? e.createTime)),
    h(
      "td",
      {},
      e.rootTaskName ? h("b", {}, e.rootTaskName) : e.rootTaskHash ? h("span", { class: "mono" }, e.rootTaskHash.slice(0, 12)) : h("span", { class: "muted" }, "—"),
    ),
    h("td", {}, e.status || h("span", { class: "muted" }, e.rootJobId && !e.endTime ? "running" : "—")),
    h("td", { class: "num", "data-testid": "job-count" }, jobs.toLocaleString("en-US")),
    h("td", { class: "num", "data-testid": "hit-count" }, hits.toLocaleString("en-US")),
    h("td", { class: "mono" }, e.args.length ? e.args.join(" ") : h("span", { class: "muted" }, "—")),
  );
}

route("/ns/:ns/redun", async ({ ns }, query, signal) => {
  const page = query.get("page") ?? "";
  const base = `/ns/${seg(ns)}/redun`;
  const res = await client(CacheService).listExecutions({ namespace: ns, pageSize: PAGE_SIZE, pageToken: page }, { signal });
  const body = h(
    "section",
    {},
    h("h1", {}, "redun executions"),
    await tabsFor(ns, "redun"),
    inlineForm({ placeholder: "execution id", testid: "execution-id", button: "open" }, (id) => id && navigate(executionHref(ns, id))),
    res.executions.length
      ? table(
          "executions",
          ["execution", "started", "root task", "status", "jobs", "cache hits", "args"],
          res.executions.map((e) => executionRow(ns, e)),
        )
      : empty(page ? "No more executions." : "No redun executions in this namespace yet.", "redun records them through artimeta.adapters.redun."),
    pager(base, page, res.nextPageToken),
  );
  return { title: `redun · ${ns}`, crumbs: crumbs(ns, { label: "redun" }), body };
});

function version(o: OpSummary): string {
  const v = o.latestVersion;
  return v ? `${v.majorNumber}.${v.minorNumber}.${v.patchNumber}` : "—";
}

route("/ns/:ns/ops", async ({ ns }, query, signal) => {
  const page = query.get("page") ?? "";
  const prefix = query.get("prefix") ?? "";
  const base = `/ns/${seg(ns)}/ops`;
  const body = h(
    "section",
    {},
    h("h1", {}, "chariots ops"),
    await tabsFor(ns, "chariots ops"),
    inlineForm({ placeholder: "name starts with…", testid: "op-prefix", button: "filter", value: prefix }, (p) =>
      navigate(href(base, { prefix: p })),
    ),
  );
  const res = await client(OpStoreService).listOps({ namespace: ns, namePrefix: prefix, pageSize: PAGE_SIZE, pageToken: page }, { signal });
  body.append(
    res.ops.length
      ? table(
          "ops",
          ["op", "versions", "latest version", "latest created"],
          res.ops.map((o) =>
            h(
              "tr",
              { "data-op": o.name },
              h("td", {}, link(href(`/ns/${seg(ns)}/ops/${seg(o.name)}`), o.name)),
              h("td", { class: "num", "data-testid": "version-count" }, Number(o.versionCount).toLocaleString("en-US")),
              h("td", { class: "mono", "data-testid": "latest-version" }, version(o)),
              h(
                "td",
                { class: "mono" },
                o.latestVersion ? new Date(o.latestVersion.creationTime * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "—",
              ),
            ),
          ),
        )
      : empty(
          page ? "No more ops." : prefix ? `No op name starts with “${prefix}”.` : "No chariots ops in this namespace yet.",
          prefix || page ? undefined : "chariots registers them through artimeta.adapters.chariots.",
        ),
    pager(base, page, res.nextPageToken, prefix ? { prefix } : {}),
  );
  return { title: `ops · ${ns}`, crumbs: crumbs(ns, { label: "chariots ops" }), body };
});

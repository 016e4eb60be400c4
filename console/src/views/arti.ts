// arti's graphs, snapshots, tags and partitions (ConnectionService).
import cytoscape from "cytoscape";
import dagre from "cytoscape-dagre";
import { client } from "../api";
import { empty, h, link } from "../dom";
import { ConnectionService } from "../gen/artimeta/v1/connection_pb";
import type { GraphSnapshot, SnapshotTag } from "../gen/artimeta/v1/graph_pb";
import { bytes, fp, ts } from "../format";
import { href, navigate, route, seg, type Crumb } from "../router";
import { graphLineage, lineageView, partitionsPage } from "./lineage";
import { namespaceTabs, tabsFor } from "./namespaces";

cytoscape.use(dagre);

const SERVICE = "artimeta.v1.ConnectionService";

namespaceTabs.push(
  { service: SERVICE, label: "graphs", path: (ns) => href(`/ns/${seg(ns)}/graphs`) },
  { service: SERVICE, label: "snapshot tags", path: (ns) => href(`/ns/${seg(ns)}/tags`) },
);

const conn = () => client(ConnectionService);

function nsCrumbs(ns: string, ...more: Crumb[]): Crumb[] {
  return [{ label: "namespaces", href: href("/") }, { label: ns, href: href(`/ns/${seg(ns)}`) }, ...more];
}

function graphHref(ns: string, name: string): string {
  return href(`/ns/${seg(ns)}/graphs/${seg(name)}`);
}

function snapshotHref(ns: string, name: string, fingerprint: bigint): string {
  return href(`/ns/${seg(ns)}/graphs/${seg(name)}/snapshots/${fingerprint}`);
}

function artifactHref(ns: string, name: string, fingerprint: bigint, artifact: string): string {
  return href(`/ns/${seg(ns)}/graphs/${seg(name)}/snapshots/${fingerprint}/artifacts/${seg(artifact)}`);
}

function tagHref(ns: string, name: string, tag: string): string {
  return href(`/ns/${seg(ns)}/graphs/${seg(name)}/tags/${seg(tag)}`);
}

function table(testid: string, head: string[], rows: HTMLElement[]): HTMLElement {
  return h(
    "table",
    { "data-testid": testid },
    h("thead", {}, h("tr", {}, head.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows),
  );
}

function pager(first: string | null, next: string | null): HTMLElement {
  return h(
    "div",
    { class: "pager" },
    first ? link(first, "« first page") : null,
    next ? h("a", { href: next, "data-testid": "next-page" }, "next page »") : null,
  );
}

function parseFp(text: string): bigint {
  try {
    return BigInt(text);
  } catch {
    return 0n;
  }
}

route("/ns/:ns/graphs", async ({ ns }, query) => {
  const page = query.get("page") ?? "";
  const res = await conn().listGraphs({ namespace: ns, pageSize: 100, pageToken: page });
  const base = `/ns/${seg(ns)}/graphs`;
  const body = h("section", {}, h("h1", {}, "Graphs"), await tabsFor(ns, "graphs"));
  body.append(
    res.graphs.length
      ? table(
          "graphs",
          ["name", "fingerprint", "format", "document", "created"],
          res.graphs.map((g) =>
            h(
              "tr",
              {},
              h("td", {}, link(graphHref(ns, g.name), g.name)),
              h("td", { class: "mono" }, fp(g.fingerprint)),
              h("td", { class: "mono" }, g.documentFormat || "—"),
              h("td", { class: "num" }, bytes(g.documentSize)),
              h("td", { class: "mono" }, ts(g.createTime)),
            ),
          ),
        )
      : empty("No graphs in this namespace yet.", "arti writes them through artimeta.adapters.arti."),
    pager(page ? href(base) : null, res.nextPageToken ? href(base, { page: res.nextPageToken }) : null),
  );
  return { title: `graphs · ${ns}`, crumbs: nsCrumbs(ns, { label: "graphs" }), body };
});

async function all<T>(fetchPage: (token: string) => Promise<{ items: T[]; next: string }>, limit: number): Promise<T[]> {
  const out: T[] = [];
  let token = "";
  do {
    const page = await fetchPage(token);
    out.push(...page.items);
    token = page.next;
  } while (token && out.length < limit);
  return out;
}

/** The lineage of one graph name: its versions, the snapshots taken of each, the tags on them. */
function lineage(ns: string, name: string, graphs: bigint[], snapshots: GraphSnapshot[], tags: SnapshotTag[]) {
  const nodes: cytoscape.ElementDefinition[] = [];
  const edges: cytoscape.ElementDefinition[] = [];
  const known = new Set<string>();
  const node = (id: string, label: string, kind: string, target?: string) => {
    if (known.has(id)) return;
    known.add(id);
    nodes.push({ data: { id, label, kind, target } });
  };
  for (const g of graphs) node(`g${g}`, `graph\n${g}`, "graph");
  for (const s of snapshots) {
    node(`s${s.fingerprint}`, `snapshot\n${s.fingerprint}`, "snapshot", snapshotHref(ns, name, s.fingerprint));
    node(`g${s.graphFingerprint}`, `graph\n${s.graphFingerprint}`, "graph");
    edges.push({ data: { id: `e-g${s.graphFingerprint}-s${s.fingerprint}`, source: `g${s.graphFingerprint}`, target: `s${s.fingerprint}` } });
  }
  for (const t of tags) {
    node(`t${t.tag}`, `tag ${t.tag}`, "tag", tagHref(ns, name, t.tag));
    node(`s${t.snapshotFingerprint}`, `snapshot\n${t.snapshotFingerprint}`, "snapshot", snapshotHref(ns, name, t.snapshotFingerprint));
    edges.push({ data: { id: `e-s${t.snapshotFingerprint}-t${t.tag}`, source: `s${t.snapshotFingerprint}`, target: `t${t.tag}` } });
  }
  return { nodes, edges };
}

route("/ns/:ns/graphs/:name", async ({ ns, name }) => {
  const [graphs, snapshots, tags] = await Promise.all([
    all(async (t) => {
      const r = await conn().listGraphs({ namespace: ns, name, pageSize: 500, pageToken: t });
      return { items: r.graphs.map((g) => g.fingerprint), next: r.nextPageToken };
    }, 500),
    all(async (t) => {
      const r = await conn().listSnapshots({ namespace: ns, name, pageSize: 200, pageToken: t });
      return { items: r.snapshots, next: r.nextPageToken };
    }, 200),
    all(async (t) => {
      const r = await conn().listSnapshotTags({ namespace: ns, name, pageSize: 500, pageToken: t });
      return { items: r.tags, next: r.nextPageToken };
    }, 500),
  ]);
  const { nodes, edges } = lineage(ns, name, graphs, snapshots, tags);
  const dag = h("div", { class: "dag", "data-testid": "dag", "data-nodes": nodes.length, "data-edges": edges.length });
  const body = h(
    "section",
    {},
    h("h1", {}, name),
    await tabsFor(ns, "graphs"),
    h("h2", {}, "History"),
    h("p", { class: "muted" }, "Graph versions → the snapshots taken of them → the tags pointing at those. Click a snapshot (its lineage DAG shows artifacts and producers) or a tag."),
    nodes.length ? dag : empty("Nothing recorded for this graph name."),
    h("h2", {}, "Snapshots (newest first)"),
    snapshots.length
      ? table(
          "snapshots",
          ["snapshot fingerprint", "id", "graph fingerprint", "document", "created"],
          snapshots.map((s) =>
            h(
              "tr",
              {},
              h("td", { class: "mono" }, link(snapshotHref(ns, name, s.fingerprint), fp(s.fingerprint))),
              h("td", { class: "mono" }, fp(s.id)),
              h("td", { class: "mono" }, fp(s.graphFingerprint)),
              h("td", { class: "num" }, bytes(s.documentSize)),
              h("td", { class: "mono" }, ts(s.createTime)),
            ),
          ),
        )
      : empty("No snapshots of this graph yet."),
    h("h2", {}, "Tags"),
    tags.length ? tagTable(ns, tags) : empty("No tags on this graph's snapshots."),
  );
  return {
    title: `${name} · ${ns}`,
    crumbs: nsCrumbs(ns, { label: "graphs", href: href(`/ns/${seg(ns)}/graphs`) }, { label: name }),
    body,
    mounted: () => {
      if (!nodes.length) return;
      const cy = cytoscape({
        container: dag,
        elements: [...nodes, ...edges],
        layout: { name: "dagre", rankDir: "LR", nodeSep: 18, rankSep: 70 } as cytoscape.LayoutOptions,
        style: [
          {
            selector: "node",
            style: {
              label: "data(label)",
              "text-wrap": "wrap",
              "text-valign": "center",
              "font-size": 10,
              shape: "round-rectangle",
              width: 150,
              height: 38,
              "background-color": "#e8eefc",
              "border-width": 1,
              "border-color": "#2f5bd3",
            },
          },
          { selector: "node[kind = 'graph']", style: { "background-color": "#eef1f5", "border-color": "#5f6b7a" } },
          { selector: "node[kind = 'tag']", style: { "background-color": "#fff4db", "border-color": "#8a5a00", shape: "tag" } },
          { selector: "edge", style: { width: 1.5, "line-color": "#9aa6b8", "target-arrow-color": "#9aa6b8", "target-arrow-shape": "triangle", "curve-style": "bezier" } },
        ],
        userZoomingEnabled: true,
        boxSelectionEnabled: false,
      });
      cy.on("tap", "node", (ev) => {
        const target = ev.target.data("target") as string | undefined;
        if (target) navigate(target);
      });
    },
  };
});

function tagTable(ns: string, tags: SnapshotTag[]): HTMLElement {
  return table(
    "tags",
    ["graph", "tag", "snapshot", "moved by", "updated"],
    tags.map((t) =>
      h(
        "tr",
        {},
        h("td", {}, link(graphHref(ns, t.name), t.name)),
        h("td", {}, link(tagHref(ns, t.name, t.tag), t.tag)),
        h("td", { class: "mono" }, link(snapshotHref(ns, t.name, t.snapshotFingerprint), fp(t.snapshotFingerprint))),
        h("td", {}, t.actor || h("span", { class: "muted" }, "—")),
        h("td", { class: "mono" }, ts(t.updateTime)),
      ),
    ),
  );
}

route("/ns/:ns/tags", async ({ ns }, query) => {
  const page = query.get("page") ?? "";
  const res = await conn().listSnapshotTags({ namespace: ns, pageSize: 100, pageToken: page });
  const base = `/ns/${seg(ns)}/tags`;
  const body = h(
    "section",
    {},
    h("h1", {}, "Snapshot tags"),
    await tabsFor(ns, "snapshot tags"),
    res.tags.length ? tagTable(ns, res.tags) : empty("No snapshot tags in this namespace."),
    pager(page ? href(base) : null, res.nextPageToken ? href(base, { page: res.nextPageToken }) : null),
  );
  return { title: `tags · ${ns}`, crumbs: nsCrumbs(ns, { label: "snapshot tags" }), body };
});

route("/ns/:ns/graphs/:name/tags/:tag", async ({ ns, name, tag }, query) => {
  const page = query.get("page") ?? "";
  const res = await conn().listSnapshotTagHistory({ namespace: ns, name, tag, pageSize: 100, pageToken: page });
  const base = `/ns/${seg(ns)}/graphs/${seg(name)}/tags/${seg(tag)}`;
  const body = h(
    "section",
    {},
    h("h1", {}, `Tag ${tag} of ${name}`),
    h("p", { class: "muted" }, "Every creation and move of the tag, newest first."),
    res.moves.length
      ? table(
          "tag-history",
          ["#", "from snapshot", "to snapshot", "by", "when"],
          res.moves.map((m) =>
            h(
              "tr",
              {},
              h("td", { class: "num" }, m.sequence.toString()),
              h("td", { class: "mono" }, m.fromSnapshotFingerprint === undefined ? h("span", { class: "muted" }, "(created)") : link(snapshotHref(ns, name, m.fromSnapshotFingerprint), fp(m.fromSnapshotFingerprint))),
              h("td", { class: "mono" }, link(snapshotHref(ns, name, m.toSnapshotFingerprint), fp(m.toSnapshotFingerprint))),
              h("td", {}, m.actor || h("span", { class: "muted" }, "—")),
              h("td", { class: "mono" }, ts(m.moveTime)),
            ),
          ),
        )
      : empty("This tag has no history (it was never written)."),
    pager(page ? href(base) : null, res.nextPageToken ? href(base, { page: res.nextPageToken }) : null),
  );
  return {
    title: `${tag} · ${name}`,
    crumbs: nsCrumbs(ns, { label: "graphs", href: href(`/ns/${seg(ns)}/graphs`) }, { label: name, href: graphHref(ns, name) }, { label: `tag ${tag}` }),
    body,
  };
});

route("/ns/:ns/graphs/:name/snapshots/:fp", async ({ ns, name, fp: fpText }) => {
  const fingerprint = parseFp(fpText);
  const [snap, tags] = await Promise.all([
    conn().readSnapshot({ namespace: ns, name, fingerprint }),
    conn().listSnapshotTags({ namespace: ns, name, pageSize: 1000 }),
  ]);
  const s = snap.snapshot!;
  const lineage = await graphLineage(ns, name, s.graphFingerprint);
  const drawn = lineage ? lineageView(lineage, (key) => artifactHref(ns, name, fingerprint, key)) : undefined;
  const input = h("input", { name: "artifact", placeholder: "artifact key", required: true, "data-testid": "artifact-key" }) as HTMLInputElement;
  const form = h(
    "form",
    {
      class: "inline-form",
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        navigate(artifactHref(ns, name, fingerprint, input.value.trim()));
      },
    },
    input,
    h("button", { type: "submit" }, "show partitions"),
  );
  const pointing = tags.tags.filter((t) => t.snapshotFingerprint === fingerprint);
  const body = h(
    "section",
    {},
    h("h1", {}, `Snapshot ${fp(s.fingerprint)}`),
    h(
      "div",
      { class: "card" },
      h(
        "dl",
        { class: "props" },
        h("dt", {}, "graph"),
        h("dd", {}, link(graphHref(ns, name), name), " @ ", h("span", { class: "mono" }, fp(s.graphFingerprint))),
        h("dt", {}, "snapshot id"),
        h("dd", { class: "mono" }, fp(s.id)),
        h("dt", {}, "document"),
        h("dd", {}, `${bytes(s.documentSize || s.document.length)} · `, h("span", { class: "mono" }, s.documentFormat || "—")),
        h("dt", {}, "code"),
        h("dd", { class: "mono" }, s.codeRefs.join(", ") || "—"),
        h("dt", {}, "tags"),
        h("dd", {}, pointing.length ? pointing.flatMap((t) => [link(tagHref(ns, name, t.tag), t.tag), " "]) : h("span", { class: "muted" }, "—")),
        h("dt", {}, "created"),
        h("dd", { class: "mono" }, ts(s.createTime)),
      ),
    ),
    h("h2", {}, "Lineage"),
    drawn
      ? drawn.body
      : h(
          "div",
          { class: "empty", "data-testid": "no-lineage" },
          "No lineage recorded for this snapshot's graph.",
          h("div", { class: "muted" }, "The arti adapter records artifacts, producers and edges with every graph it writes; other writers can send a GraphLineage with WriteGraph."),
        ),
    h("h2", {}, "Partitions of an artifact"),
    h("p", { class: "muted" }, "Name an artifact (its key in the graph) to see its partitions in this snapshot."),
    form,
  );
  return {
    mounted: drawn?.mounted,
    title: `snapshot ${fpText} · ${name}`,
    crumbs: nsCrumbs(ns, { label: "graphs", href: href(`/ns/${seg(ns)}/graphs`) }, { label: name, href: graphHref(ns, name) }, { label: `snapshot ${fpText}` }),
    body,
  };
});

route("/ns/:ns/graphs/:name/snapshots/:fp/artifacts/:artifact", async ({ ns, name, fp: fpText, artifact }, query) => {
  const fingerprint = parseFp(fpText);
  const token = query.get("page") ?? "";
  const pageNo = token ? Math.max(2, Number.parseInt(query.get("n") ?? "2", 10) || 2) : 1;
  const base = `/ns/${seg(ns)}/graphs/${seg(name)}/snapshots/${fingerprint}/artifacts/${seg(artifact)}`;
  const body = h(
    "section",
    {},
    h("h1", {}, `Partitions of ${artifact}`),
    h("p", {}, "snapshot ", link(snapshotHref(ns, name, fingerprint), fpText), " of ", link(graphHref(ns, name), name)),
    await partitionsPage(ns, name, fingerprint, artifact, token, pageNo, base),
  );
  return {
    title: `${artifact} · snapshot ${fpText}`,
    crumbs: nsCrumbs(
      ns,
      { label: "graphs", href: href(`/ns/${seg(ns)}/graphs`) },
      { label: name, href: graphHref(ns, name) },
      { label: `snapshot ${fpText}`, href: snapshotHref(ns, name, fingerprint) },
      { label: artifact },
    ),
    body,
  };
});

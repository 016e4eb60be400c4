// A snapshot's lineage DAG (artifacts, producers, edges, as the writer recorded them with its
// graph) and an artifact's partitions in that snapshot, a keyset page at a time.
import cytoscape from "cytoscape";
import { Code, ConnectError } from "@connectrpc/connect";
import { client } from "../api";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb";
import { empty, h, link } from "../dom";
import { ConnectionService } from "../gen/artimeta/v1/connection_pb";
import { LineageEdgeKind, type GraphLineage } from "../gen/artimeta/v1/graph_pb";
import { compositeKey, fields, fp } from "../format";
import { href, navigate } from "../router";

export const PARTITION_PAGE = 200;
// Beyond this many nodes a layout takes seconds and the drawing is unreadable: the table stays.
export const MAX_DRAWN_NODES = 400;

const conn = () => client(ConnectionService);

/** The lineage of a graph; undefined when none was recorded (or the graph itself was never written). */
export async function graphLineage(ns: string, name: string, fingerprint: bigint): Promise<GraphLineage | undefined> {
  try {
    const res = await conn().getGraphLineage({ namespace: ns, name, fingerprint });
    return res.lineage;
  } catch (err) {
    const e = ConnectError.from(err);
    if (e.code === Code.NotFound && e.findDetails(ErrorInfoSchema)[0]?.reason === "GRAPH_NOT_FOUND") return undefined;
    throw err;
  }
}

export interface LineageView {
  body: HTMLElement;
  mounted: () => void;
}

function short(text: string, max = 26): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function artifactId(key: string): string {
  return `a:${key}`;
}

function producerId(key: string): string {
  return `p:${key}`;
}

/** Marks a class stored inside the graph's document rather than as an importable reference. */
function byValue(): HTMLElement {
  return h(
    "span",
    { class: "muted", "data-testid": "by-value", title: "stored by value: readers need not import this code" },
    " (by value)",
  );
}

/** The DAG and a table of the artifacts; `artifactHref` is where an artifact's partitions are. */
export function lineageView(lineage: GraphLineage, artifactHref: (key: string) => string): LineageView {
  const producedBy = new Map<string, string>();
  const producerName = new Map(lineage.producers.map((p) => [p.key, p.name || p.qualname || p.key]));
  const producerByValue = new Set(lineage.producers.filter((p) => p.storedByValue).map((p) => p.key));
  const producerOf = new Map<string, string>();
  const nodes: cytoscape.ElementDefinition[] = [
    ...lineage.artifacts.map((a) => ({
      data: {
        id: artifactId(a.key),
        label: `${a.key}\n${short(a.type || a.artifactClass)}${a.storedByValue ? "\n(by value)" : ""}`,
        kind: "artifact",
        target: artifactHref(a.key),
      },
    })),
    ...lineage.producers.map((p) => ({
      data: {
        id: producerId(p.key),
        label: `${p.name || p.qualname}${p.version ? `\nv${p.version}` : ""}${p.storedByValue ? "\n(by value)" : ""}`,
        kind: "producer",
      },
    })),
  ];
  const edges: cytoscape.ElementDefinition[] = lineage.edges.map((e, i) => {
    const input = e.kind === LineageEdgeKind.INPUT;
    if (!input) {
      producedBy.set(e.artifactKey, producerName.get(e.producerKey) ?? e.producerKey);
      producerOf.set(e.artifactKey, e.producerKey);
    }
    return {
      data: {
        id: `e${i}`,
        source: input ? artifactId(e.artifactKey) : producerId(e.producerKey),
        target: input ? producerId(e.producerKey) : artifactId(e.artifactKey),
        label: input ? e.inputName : "",
        kind: input ? "input" : "output",
      },
    };
  });
  // Where each node was drawn, for whoever cannot see the canvas (assistive tools, tests).
  const index = h("ul", { class: "dag-index", "data-testid": "dag-index", hidden: true });
  const dag = h("div", {
    class: "dag",
    "data-testid": "lineage-dag",
    "data-nodes": nodes.length,
    "data-edges": edges.length,
    "data-artifacts": lineage.artifacts.length,
    "data-producers": lineage.producers.length,
  });
  const artifacts = h(
    "table",
    { "data-testid": "artifacts" },
    h("thead", {}, h("tr", {}, ["artifact", "class", "type", "format", "storage", "produced by"].map((c) => h("th", {}, c)))),
    h(
      "tbody",
      {},
      lineage.artifacts.map((a) =>
        h(
          "tr",
          {},
          h("td", {}, link(artifactHref(a.key), a.key)),
          h("td", { class: "mono" }, a.artifactClass || "—", a.storedByValue ? byValue() : null),
          h("td", { class: "mono" }, a.type || "—"),
          h("td", { class: "mono" }, a.format || "—"),
          h("td", { class: "mono wrap" }, a.storage || "—"),
          h(
            "td",
            {},
            producedBy.get(a.key) ?? h("span", { class: "muted" }, "(raw)"),
            producerByValue.has(producerOf.get(a.key) ?? "") ? byValue() : null,
          ),
        ),
      ),
    ),
  );
  const body = h(
    "div",
    {},
    h(
      "p",
      { class: "muted" },
      `${lineage.artifacts.length} artifacts, ${lineage.producers.length} producers, ${lineage.edges.length} edges. `,
      "Artifacts are blue boxes, producers orange. Click an artifact to see its partitions in this snapshot.",
    ),
    !nodes.length
      ? empty("The graph has no artifacts.")
      : nodes.length > MAX_DRAWN_NODES
        ? h(
            "div",
            { class: "empty", "data-testid": "dag-too-large", "data-nodes": nodes.length },
            `${nodes.length.toLocaleString("en-US")} nodes are too many to draw (at most ${MAX_DRAWN_NODES}); the table below lists every artifact.`,
          )
        : dag,
    index,
    lineage.artifacts.length ? artifacts : null,
  );
  const mounted = () => {
    if (!nodes.length || nodes.length > MAX_DRAWN_NODES) return;
    const cy = cytoscape({
      container: dag,
      elements: [...nodes, ...edges],
      layout: { name: "dagre", rankDir: "LR", nodeSep: 20, rankSep: 80 } as cytoscape.LayoutOptions,
      style: [
        {
          selector: "node",
          style: {
            label: "data(label)",
            "text-wrap": "wrap",
            "text-max-width": "150px",
            "text-valign": "center",
            "font-size": 11,
            width: 170,
            height: 44,
          },
        },
        {
          selector: "node[kind = 'artifact']",
          style: { shape: "round-rectangle", "background-color": "#e8eefc", "border-width": 1, "border-color": "#2f5bd3" },
        },
        {
          selector: "node[kind = 'producer']",
          style: { shape: "hexagon", "background-color": "#fdf0dc", "border-width": 1, "border-color": "#a55d00", width: 130 },
        },
        {
          selector: "edge",
          style: {
            width: 1.5,
            "line-color": "#9aa6b8",
            "target-arrow-color": "#9aa6b8",
            "target-arrow-shape": "triangle",
            "curve-style": "bezier",
            label: "data(label)",
            "font-size": 9,
            color: "#5f6b7a",
            "text-background-color": "#fff",
            "text-background-opacity": 1,
          },
        },
      ],
      userZoomingEnabled: true,
      boxSelectionEnabled: false,
    });
    cy.on("tap", "node[kind = 'artifact']", (ev) => navigate(ev.target.data("target") as string));
    const box = dag.getBoundingClientRect();
    index.replaceChildren(
      ...cy.nodes().map((n) => {
        const p = n.renderedPosition();
        return h("li", {
          "data-id": n.id(),
          "data-kind": n.data("kind") as string,
          "data-x": Math.round(p.x),
          "data-y": Math.round(p.y),
          "data-inside": p.x >= 0 && p.y >= 0 && p.x <= box.width && p.y <= box.height ? "yes" : "no",
        }, n.data("label") as string);
      }),
    );
  };
  return { body, mounted };
}

/** One keyset page of an artifact's partitions: `token` from the URL, `pageNo` only for numbering. */
export async function partitionsPage(
  ns: string,
  name: string,
  fingerprint: bigint,
  artifact: string,
  token: string,
  pageNo: number,
  base: string,
): Promise<HTMLElement> {
  const res = await conn().listSnapshotPartitions({
    namespace: ns,
    name,
    snapshotFingerprint: fingerprint,
    artifactKey: artifact,
    pageSize: PARTITION_PAGE,
    pageToken: token,
  });
  const start = (pageNo - 1) * PARTITION_PAGE;
  const last = !res.nextPageToken;
  const links = (testids: boolean) => [
    pageNo > 1 ? h("a", { href: href(base), "data-testid": testids ? "first-page" : undefined }, "« first page") : "",
    res.nextPageToken
      ? h("a", { href: href(base, { page: res.nextPageToken, n: String(pageNo + 1) }), "data-testid": testids ? "next-page" : undefined }, "next page »")
      : "",
  ];
  const status = h(
    "span",
    { class: "muted", "data-testid": "partition-range", "data-last": last ? "yes" : "no" },
    res.partitions.length
      ? `partitions ${(start + 1).toLocaleString("en-US")}–${(start + res.partitions.length).toLocaleString("en-US")}${last ? " (the last page)" : ""} · page ${pageNo}`
      : "",
  );
  return h(
    "div",
    {},
    h("div", { class: "pager" }, status, ...links(false)),
    res.partitions.length
      ? h(
          "table",
          { "data-testid": "partitions" },
          h("thead", {}, h("tr", {}, ["#", "keys", "type", "input fingerprint", "content fingerprint", "fields"].map((c) => h("th", {}, c)))),
          h(
            "tbody",
            {},
            res.partitions.map((p, i) =>
              h(
                "tr",
                {},
                h("td", { class: "num" }, String(start + i + 1)),
                h("td", { class: "mono" }, compositeKey(p.keys)),
                h("td", { class: "mono" }, p.type),
                h("td", { class: "mono" }, fp(p.inputFingerprint)),
                h("td", { class: "mono" }, fp(p.contentFingerprint)),
                h("td", { class: "mono" }, fields(p)),
              ),
            ),
          ),
        )
      : empty(token ? "No partitions on this page." : "No partitions linked to this artifact in this snapshot."),
    h("div", { class: "pager", "data-testid": "pager" }, ...links(true)),
  );
}

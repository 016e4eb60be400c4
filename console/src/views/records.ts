// machinable's records (RecordService) and content-addressed blobs (BlobService).
import { client } from "../api";
import { empty, h, labels, link } from "../dom";
import { BlobService } from "../gen/artimeta/v1/blobs_pb";
import { RecordEntryKind, RecordService } from "../gen/artimeta/v1/records_pb";
import { bytes, ts } from "../format";
import { href, navigate, route, seg, type Crumb } from "../router";
import { namespaceTabs, tabsFor } from "./namespaces";

namespaceTabs.push(
  { service: "artimeta.v1.RecordService", label: "records", path: (ns) => href(`/ns/${seg(ns)}/records`) },
  { service: "artimeta.v1.BlobService", label: "blobs", path: (ns) => href(`/ns/${seg(ns)}/blobs`) },
);

function crumbs(ns: string, ...more: Crumb[]): Crumb[] {
  return [{ label: "namespaces", href: href("/") }, { label: ns, href: href(`/ns/${seg(ns)}`) }, ...more];
}

const recordHref = (ns: string, uuid: string) => href(`/ns/${seg(ns)}/records/${seg(uuid)}`);
const blobHref = (ns: string, hash: string, size: bigint) => href(`/ns/${seg(ns)}/blobs/${hash}`, { size: size.toString() });

route("/ns/:ns/records", async ({ ns }, query) => {
  const page = query.get("page") ?? "";
  const prefix = query.get("prefix") ?? "";
  const res = await client(RecordService).listRecords({ namespace: ns, uuidPrefix: prefix, pageSize: 100, pageToken: page });
  const base = `/ns/${seg(ns)}/records`;
  const body = h(
    "section",
    {},
    h("h1", {}, "Records"),
    await tabsFor(ns, "records"),
    res.records.length
      ? h(
          "table",
          { "data-testid": "records" },
          h("thead", {}, h("tr", {}, ["uuid", "metadata", "files", "size", "updated"].map((c) => h("th", {}, c)))),
          h(
            "tbody",
            {},
            res.records.map((r) =>
              h(
                "tr",
                {},
                h("td", { class: "mono" }, link(recordHref(ns, r.uuid), r.uuid)),
                h("td", {}, labels(r.metadata)),
                h("td", { class: "num" }, r.fileCount.toString()),
                h("td", { class: "num" }, bytes(r.totalSizeBytes)),
                h("td", { class: "mono" }, ts(r.updateTime)),
              ),
            ),
          ),
        )
      : empty("No records in this namespace.", "machinable writes them through artimeta's record storage."),
    h(
      "div",
      { class: "pager" },
      page ? link(href(base, { prefix }), "« first page") : null,
      res.nextPageToken ? h("a", { href: href(base, { prefix, page: res.nextPageToken }), "data-testid": "next-page" }, "next page »") : null,
    ),
  );
  return { title: `records · ${ns}`, crumbs: crumbs(ns, { label: "records" }), body };
});

route("/ns/:ns/records/:uuid", async ({ ns, uuid }) => {
  const { record } = await client(RecordService).getRecord({ namespace: ns, uuid });
  const r = record!;
  const kind = (k: RecordEntryKind) => RecordEntryKind[k]?.toLowerCase() ?? "?";
  const body = h(
    "section",
    {},
    h("h1", { class: "mono" }, r.uuid),
    h(
      "div",
      { class: "card" },
      h(
        "dl",
        { class: "props" },
        h("dt", {}, "metadata"),
        h("dd", {}, labels(r.metadata)),
        h("dt", {}, "related"),
        h("dd", {}, r.relations.length ? r.relations.flatMap((rel) => [link(recordHref(ns, rel.relatedUuid), `${rel.name}: ${rel.relatedUuid}`), " "]) : "—"),
        h("dt", {}, "files"),
        h("dd", {}, `${r.fileCount} · ${bytes(r.totalSizeBytes)}`),
        h("dt", {}, "updated"),
        h("dd", { class: "mono" }, ts(r.updateTime)),
      ),
    ),
    h("h2", {}, "Files"),
    r.entries.length
      ? h(
          "table",
          { "data-testid": "entries" },
          h("thead", {}, h("tr", {}, ["path", "kind", "size", "blob"].map((c) => h("th", {}, c)))),
          h(
            "tbody",
            {},
            r.entries.map((e) =>
              h(
                "tr",
                {},
                h("td", { class: "mono" }, e.path),
                h("td", {}, kind(e.kind), e.linkTarget ? ` → ${e.linkTarget}` : ""),
                h("td", { class: "num" }, e.digest ? bytes(e.digest.sizeBytes) : "—"),
                h("td", { class: "mono" }, e.digest ? link(blobHref(ns, e.digest.hash, e.digest.sizeBytes), `${e.digest.hash.slice(0, 16)}…`) : "—"),
              ),
            ),
          ),
        )
      : empty("This record holds no files."),
  );
  return { title: `${uuid} · records`, crumbs: crumbs(ns, { label: "records", href: href(`/ns/${seg(ns)}/records`) }, { label: uuid }), body };
});

route("/ns/:ns/blobs", async ({ ns }) => {
  const input = h("input", { name: "digest", placeholder: "sha256 hex (64 characters)", required: true, pattern: "[0-9a-fA-F]{64}", "data-testid": "digest" }) as HTMLInputElement;
  const sizeInput = h("input", { name: "size", placeholder: "size in bytes", required: true, type: "number", min: "0", "data-testid": "size" }) as HTMLInputElement;
  const body = h(
    "section",
    {},
    h("h1", {}, "Blobs"),
    await tabsFor(ns, "blobs"),
    h("p", { class: "muted" }, "Blobs are addressed by their digest: sha256 and size."),
    h(
      "form",
      {
        class: "inline-form",
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          navigate(href(`/ns/${seg(ns)}/blobs/${input.value.trim().toLowerCase()}`, { size: sizeInput.value.trim() }));
        },
      },
      input,
      sizeInput,
      h("button", { type: "submit" }, "look up"),
    ),
  );
  return { title: `blobs · ${ns}`, crumbs: crumbs(ns, { label: "blobs" }), body };
});

route("/ns/:ns/blobs/:hash", async ({ ns, hash }, query) => {
  const size = BigInt(query.get("size") ?? "0");
  const stat = await client(BlobService).statBlob({ namespace: ns, digest: { hash, sizeBytes: size } });
  const d = stat.digest!;
  const status = h("span", { class: "muted", "data-testid": "download-status" });
  const button = h(
    "button",
    {
      type: "button",
      "data-testid": "download",
      onclick: async () => {
        // Streamed over Connect (server streaming), assembled here, handed to the browser as a file.
        const parts: Uint8Array[] = [];
        let got = 0;
        status.textContent = "downloading…";
        try {
          for await (const chunk of client(BlobService).download({ namespace: ns, digest: d })) {
            parts.push(chunk.data);
            got += chunk.data.length;
            status.textContent = `${bytes(got)} of ${bytes(d.sizeBytes)}`;
          }
          const url = URL.createObjectURL(new Blob(parts as BlobPart[]));
          const a = h("a", { href: url, download: d.hash }) as HTMLAnchorElement;
          a.click();
          window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
          status.textContent = `downloaded ${bytes(got)}`;
          status.dataset.bytes = String(got);
        } catch (err) {
          status.textContent = `download failed: ${String(err)}`;
        }
      },
    },
    "download",
  );
  const body = h(
    "section",
    {},
    h("h1", {}, "Blob"),
    h(
      "div",
      { class: "card" },
      h(
        "dl",
        { class: "props" },
        h("dt", {}, "sha256"),
        h("dd", { class: "mono", "data-testid": "blob-hash" }, d.hash),
        h("dt", {}, "size"),
        h("dd", {}, `${bytes(d.sizeBytes)} (${d.sizeBytes.toString()} bytes)`),
        h("dt", {}, "stored"),
        h("dd", { class: "mono" }, ts(stat.createTime)),
      ),
    ),
    h("p", {}, button, " ", status),
  );
  return { title: `blob ${hash.slice(0, 12)}`, crumbs: crumbs(ns, { label: "blobs", href: href(`/ns/${seg(ns)}/blobs`) }, { label: hash.slice(0, 12) }), body };
});

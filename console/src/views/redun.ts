// redun's executions, jobs and call tree with the cache verdict of each call (CacheService), and
// chariots' ops and their versions (OpStoreService).
import { client } from "../api";
import { empty, h, inlineForm } from "../dom";
import { CacheMissReason, CacheService } from "../gen/artimeta/v1/cache_pb";
import { OpStoreService } from "../gen/artimeta/v1/opstore_pb";
import { errorBox } from "../errors";
import { href, navigate, route, seg, type Crumb } from "../router";
import { namespaceTabs, tabsFor } from "./namespaces";

namespaceTabs.push(
  { service: "artimeta.v1.CacheService", label: "redun", path: (ns) => href(`/ns/${seg(ns)}/redun`) },
  { service: "artimeta.v1.OpStoreService", label: "chariots ops", path: (ns) => href(`/ns/${seg(ns)}/ops`) },
);

const MAX_RECORDS = 20_000;

function crumbs(ns: string, ...more: Crumb[]): Crumb[] {
  return [{ label: "namespaces", href: href("/") }, { label: ns, href: href(`/ns/${seg(ns)}`) }, ...more];
}

// The executions list (/ns/:ns/redun) lives in ./lists.

interface JobRec {
  id: string;
  task_hash: string;
  parent_id: string | null;
  call_hash: string | null;
  cached: boolean;
  status: string | null;
  start_time: string | null;
  end_time: string | null;
}

interface CallRec {
  call_hash: string;
  task_name: string;
  task_hash: string;
  args_hash: string;
}

const REASONS: Record<number, string> = {
  [CacheMissReason.NEW_TASK]: "new task: the same task and arguments ran before with another version of the task's code",
  [CacheMissReason.NEW_ARGS]: "new arguments: this version of the task ran before, with other arguments",
  [CacheMissReason.NEW_CALL]: "new call: neither this task nor these arguments were seen before",
};

route("/ns/:ns/redun/executions/:id", async ({ ns, id }, _query, signal) => {
  const cache = client(CacheService);
  const ids: string[] = [];
  for await (const batch of cache.iterRecordIds({ namespace: ns, rootIds: [id] }, { signal })) {
    ids.push(...batch.recordIds);
    if (ids.length >= MAX_RECORDS) break;
  }
  const records: { [id: string]: Record<string, unknown> } = {};
  for (let i = 0; i < ids.length; i += 500) {
    const res = await cache.getRecords({ namespace: ns, ids: ids.slice(i, i + 500) }, { signal });
    for (const r of res.records) records[r.id] = JSON.parse(r.json) as Record<string, unknown>;
  }
  const exec = records[id];
  const body = h("section", {}, h("h1", {}, `Execution ${id}`), await tabsFor(ns, "redun"));
  if (!exec || exec._type !== "Execution") {
    body.append(empty("No execution with this id in this namespace."));
    return { title: `execution ${id}`, crumbs: crumbs(ns, { label: "redun", href: href(`/ns/${seg(ns)}/redun`) }, { label: id }), body };
  }
  const jobs = Object.values(records).filter((r) => r._type === "Job") as unknown as JobRec[];
  const calls = new Map<string, CallRec>();
  for (const r of Object.values(records)) if (r._type === "CallNode") calls.set(r.call_hash as string, r as unknown as CallRec);
  const children = new Map<string, JobRec[]>();
  for (const j of jobs) {
    const key = j.parent_id ?? "";
    if (!children.has(key)) children.set(key, []);
    children.get(key)!.push(j);
  }
  for (const list of children.values()) list.sort((a, b) => (a.start_time ?? "").localeCompare(b.start_time ?? "") || a.id.localeCompare(b.id));
  const hits = jobs.filter((j) => j.cached).length;

  const explain = async (job: JobRec, call: CallRec, out: HTMLElement) => {
    out.textContent = "asking the server…";
    try {
      const r = await cache.explainCacheMiss({ namespace: ns, taskName: call.task_name, taskHash: call.task_hash, argsHash: call.args_hash });
      const self = r.callHash === call.call_hash;
      out.replaceChildren(
        h("span", { "data-testid": "miss-reason", "data-reason": CacheMissReason[r.reason] }, REASONS[r.reason] ?? CacheMissReason[r.reason]),
        r.callHash && !self ? h("span", { class: "muted mono" }, ` · closest call ${r.callHash.slice(0, 12)}… (task ${r.callTaskHash.slice(0, 8)}, args ${r.callArgsHash.slice(0, 8)})`) : "",
        self ? h("span", { class: "muted" }, " · the closest call found is this one itself") : "",
      );
      out.dataset.job = job.id;
    } catch (err) {
      out.replaceChildren(errorBox(err, "ExplainCacheMiss failed"));
    }
  };

  const rowsOf = (job: JobRec, depth: number): HTMLElement[] => {
    const call = job.call_hash ? calls.get(job.call_hash) : undefined;
    const why = h("div", { class: "why" });
    const verdict = job.cached
      ? h("span", { class: "verdict hit" }, "cache hit")
      : h("span", { class: "verdict miss" }, "miss");
    const row = h(
      "tr",
      { "data-job": job.id, "data-cached": String(job.cached) },
      h("td", { style: `padding-left: ${10 + depth * 22}px; white-space: nowrap` }, depth ? "└ " : "", h("b", {}, call?.task_name ?? job.task_hash.slice(0, 12))),
      h("td", {}, verdict),
      h("td", {}, job.status ?? "—"),
      h("td", { class: "mono" }, (job.start_time ?? "—").replace("T", " ").slice(0, 19)),
      h(
        "td",
        {},
        !job.cached && call
          ? h("button", { type: "button", class: "small", "data-testid": "why", onclick: () => void explain(job, call, why) }, "why not cached?")
          : null,
        why,
      ),
    );
    return [row, ...(children.get(job.id) ?? []).flatMap((c) => rowsOf(c, depth + 1))];
  };
  const roots = jobs.filter((j) => !j.parent_id || !records[j.parent_id]);
  body.append(
    h("p", { "data-testid": "exec-summary" }, `${jobs.length} jobs · ${hits} cache hits · ${jobs.length - hits} misses · args: `, h("span", { class: "mono" }, JSON.stringify(exec.args ?? []))),
    jobs.length
      ? h(
          "table",
          { "data-testid": "call-tree" },
          h("thead", {}, h("tr", {}, ["task", "cache", "status", "started", ""].map((c) => h("th", {}, c)))),
          h("tbody", {}, roots.flatMap((r) => rowsOf(r, 0))),
        )
      : empty("This execution has no jobs recorded."),
  );
  return { title: `execution ${id}`, crumbs: crumbs(ns, { label: "redun", href: href(`/ns/${seg(ns)}/redun`) }, { label: id }), body };
});

// The ops list (/ns/:ns/ops) lives in ./lists.

route("/ns/:ns/ops/:op", async ({ ns, op }, query) => {
  const ops = client(OpStoreService);
  const downstream = query.get("downstream") ?? "";
  const res = await ops.getAllVersionsOfOp({ namespace: ns, opName: op });
  const validated = downstream ? await ops.getValidatedLinks({ namespace: ns, downstreamOpName: downstream, upstreamOpName: op }) : undefined;
  const body = h(
    "section",
    {},
    h("h1", {}, `Op ${op}`),
    await tabsFor(ns, "chariots ops"),
    res.versions.length
      ? h(
          "table",
          { "data-testid": "op-versions" },
          h("thead", {}, h("tr", {}, ["version", "major", "minor", "patch", "created"].map((c) => h("th", {}, c)))),
          h(
            "tbody",
            {},
            res.versions.map((v) =>
              h(
                "tr",
                {},
                h("td", { class: "mono" }, `${v.majorNumber}.${v.minorNumber}.${v.patchNumber}`),
                h("td", { class: "mono" }, v.major),
                h("td", { class: "mono" }, v.minor),
                h("td", { class: "mono" }, v.patch),
                h("td", { class: "mono" }, v.creationTime ? new Date(v.creationTime * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "—"),
              ),
            ),
          ),
        )
      : empty("No versions of this op are registered."),
    h("h2", {}, "Validated for a downstream op"),
    inlineForm({ placeholder: "downstream op name", testid: "downstream", button: "open", required: true }, (d) =>
      navigate(href(`/ns/${seg(ns)}/ops/${seg(op)}`, { downstream: d })),
    ),
    validated
      ? validated.upstreamVersions.length
        ? h("p", { "data-testid": "validated" }, `${downstream} is validated against: `, validated.upstreamVersions.map((v) => `${v.majorNumber}.${v.minorNumber}.${v.patchNumber}`).join(", "))
        : empty(`No version of ${op} is validated for ${downstream}.`)
      : null,
  );
  return { title: `op ${op}`, crumbs: crumbs(ns, { label: "chariots ops", href: href(`/ns/${seg(ns)}/ops`) }, { label: op }), body };
});



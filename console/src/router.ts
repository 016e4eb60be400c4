// History-API routing under /console/: every view has its own URL, so deep links, reloads and the
// back button work. The server answers every /console/... URL with the same page.
import { h } from "./dom";
import { errorBox } from "./errors";

export const BASE = "/console";

export interface Crumb {
  label: string;
  href?: string;
}

export interface Rendered {
  title: string;
  crumbs: Crumb[];
  body: Node;
  /** Runs once the body is in the page (for widgets that need their size, like the DAG). */
  mounted?: () => void;
}

/** A view loads what it shows; `signal` aborts when the user has navigated elsewhere. */
export type View = (params: Record<string, string>, query: URLSearchParams, signal: AbortSignal) => Promise<Rendered>;

interface Route {
  pattern: RegExp;
  keys: string[];
  view: View;
}

const routes: Route[] = [];

/** Registers a view for a path like "/ns/:ns/graphs/:graph" (relative to /console). */
export function route(path: string, view: View): void {
  const keys: string[] = [];
  const source = path.replace(/\/:([a-z_]+)/gi, (_, key: string) => {
    keys.push(key);
    return "/([^/]+)";
  });
  routes.push({ pattern: new RegExp(`^${source}/?$`), keys, view });
}

export function href(path: string, query?: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v) q.set(k, v);
  const s = q.toString();
  return `${BASE}${path}${s ? `?${s}` : ""}`;
}

export function seg(value: string): string {
  return encodeURIComponent(value);
}

let generation = 0;
let current: AbortController | undefined;

async function render(): Promise<void> {
  const outlet = document.getElementById("outlet")!;
  const crumbs = document.getElementById("crumbs")!;
  const mine = ++generation;
  current?.abort();
  const controller = (current = new AbortController());
  const path = window.location.pathname.startsWith(BASE) ? window.location.pathname.slice(BASE.length) || "/" : "/";
  const query = new URLSearchParams(window.location.search);
  document.body.dataset.state = "loading";
  // A short grace period before the spinner avoids flashing it on fast answers.
  const spinner = window.setTimeout(() => {
    if (mine === generation) outlet.replaceChildren(h("p", { class: "loading", "data-testid": "loading" }, "Loading…"));
  }, 120);
  let result: Rendered;
  let state = "ready";
  try {
    const match = routes
      .map((r) => ({ r, m: r.pattern.exec(path) }))
      .find((x) => x.m !== null);
    if (!match || !match.m) {
      result = {
        title: "Not found",
        crumbs: [{ label: "not found" }],
        body: h("div", { class: "empty", "data-testid": "not-found" }, "There is no such page in the console. ", h("a", { href: href("/") }, "Namespaces")),
      };
      state = "error";
    } else {
      const params: Record<string, string> = {};
      match.r.keys.forEach((k, i) => (params[k] = decodeURIComponent(match.m![i + 1])));
      result = await match.r.view(params, query, controller.signal);
    }
  } catch (err) {
    if (mine !== generation) return;
    result = { title: "Error", crumbs: [{ label: "error" }], body: errorBox(err) };
    state = "error";
  } finally {
    window.clearTimeout(spinner);
  }
  if (mine !== generation) return; // a newer navigation won
  document.title = `${result.title} · artimeta`;
  crumbs.replaceChildren(
    ...result.crumbs.flatMap((c, i) => [
      ...(i ? [h("span", { class: "sep" }, "/")] : []),
      c.href ? h("a", { href: c.href }, c.label) : h("span", {}, c.label),
    ]),
  );
  outlet.replaceChildren(result.body);
  try {
    result.mounted?.();
  } catch (err) {
    outlet.replaceChildren(errorBox(err, "The view failed to draw"));
    state = "error";
  }
  document.body.dataset.state = state;
}

export function navigate(url: string, replace = false): void {
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  void render();
}

export function start(): void {
  document.addEventListener("click", (ev) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const a = (ev.target as Element | null)?.closest?.("a");
    if (!a || a.target || a.hasAttribute("download")) return;
    const url = new URL(a.href, window.location.href);
    if (url.origin !== window.location.origin || !url.pathname.startsWith(BASE)) return;
    ev.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener("popstate", () => void render());
  void render();
}

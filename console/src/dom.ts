// A tiny element builder: the console is a handful of tables and links, no framework needed.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((ev: Event) => void)>;

export function h(tag: string, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(key.replace(/^on/, ""), value);
    else if (key === "class") el.className = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function link(href: string, ...children: (Child | Child[])[]): HTMLElement {
  return h("a", { href }, ...children);
}

// A one-field form that hands its trimmed value to `go` (open by id, filter by prefix, ...).
export function inlineForm(
  field: { placeholder: string; testid: string; button: string; value?: string; required?: boolean },
  go: (value: string) => void,
): HTMLElement {
  const input = h("input", {
    placeholder: field.placeholder,
    "data-testid": field.testid,
    value: field.value || undefined,
    required: field.required,
  }) as HTMLInputElement;
  return h(
    "form",
    {
      class: "inline-form",
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        go(input.value.trim());
      },
    },
    input,
    h("button", { type: "submit" }, field.button),
  );
}

export function empty(message: string, hint?: string): HTMLElement {
  return h("div", { class: "empty", "data-testid": "empty" }, message, hint ? h("div", { class: "muted" }, hint) : null);
}

export function when(date: Date | undefined): string {
  if (!date || Number.isNaN(date.getTime()) || date.getTime() === 0) return "—";
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

export function labels(map: { [key: string]: string }): HTMLElement {
  const keys = Object.keys(map).sort();
  if (!keys.length) return h("span", { class: "muted" }, "—");
  return h("span", {}, keys.map((k) => h("span", { class: "label" }, `${k}=${map[k]}`)));
}

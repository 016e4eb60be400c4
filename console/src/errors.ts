// Errors are shown with their Connect code and the server's ErrorInfo reason and metadata, the
// same contract every gRPC client branches on.
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb";
import { setToken, token } from "./api";
import { h } from "./dom";

export function codeName(code: Code): string {
  return (Code[code] ?? "Unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

export function errorBox(err: unknown, what = "The request failed"): HTMLElement {
  const e = ConnectError.from(err);
  const infos = e.findDetails(ErrorInfoSchema);
  const info = infos[0];
  const rows = info ? Object.entries(info.metadata).sort(([a], [b]) => a.localeCompare(b)) : [];
  return h(
    "div",
    { class: "error", role: "alert", "data-testid": "error", "data-code": codeName(e.code), "data-reason": info?.reason ?? "" },
    h("h2", {}, what),
    h("div", {}, h("b", {}, codeName(e.code)), info ? [" · ", h("span", { class: "reason" }, info.reason)] : null),
    h("div", {}, e.rawMessage),
    rows.length
      ? h("table", {}, h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", { class: "mono" }, v)))))
      : null,
    e.code === Code.Unauthenticated || e.code === Code.PermissionDenied ? tokenForm() : null,
  );
}

/** The server wants a bearer token (ARTIMETA_AUTH=tokens): ask for one, keep it for this tab. */
function tokenForm(): HTMLElement {
  const input = h("input", { type: "password", placeholder: "bearer token", autocomplete: "off", "data-testid": "token" }) as HTMLInputElement;
  return h(
    "form",
    {
      class: "inline-form token-form",
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        setToken(input.value.trim());
        window.location.reload();
      },
    },
    input,
    h("button", { type: "submit" }, token() ? "use another token" : "use token"),
  );
}

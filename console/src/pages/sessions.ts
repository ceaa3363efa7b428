// Sessions, newest first, with the filters the API takes. The filters live in the hash
// (#/sessions?principal=bot&verdict=denied) so a filtered list can be linked to.
import { ApiError, getJson } from "../api";
import { errorBox, h, replace } from "../dom";
import { localInputMs, when } from "../format";
import { runHref, sessionHref } from "../router";

type Session = {
  id: string;
  principal?: string | null;
  connection?: string | null;
  protocol?: string | null;
  run_id?: string | null;
  started_at_ms?: number | null;
  ended_at_ms?: number | null;
  statements: number;
  denied: number;
};

const TEXT_FILTERS: [string, string][] = [
  ["principal", "Principal"],
  ["connection", "Connection"],
  ["run", "Run"],
];
const PROTOCOLS = ["", "postgres", "mysql", "ssh", "http", "kubernetes", "mcp", "rest"];

/** A datetime-local value for epoch ms (local time). */
function localValue(ms: string | null): string {
  const t = Number(ms);
  if (!ms || !Number.isFinite(t)) return "";
  const d = new Date(t - new Date(t).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

function filterForm(query: URLSearchParams): HTMLFormElement {
  const form = h("form", { class: "filters", "aria-label": "Filter sessions" });
  const field = (name: string, label: string, input: HTMLElement) =>
    h("div", { class: "field" }, h("label", { for: `f-${name}` }, label), input);
  for (const [name, label] of TEXT_FILTERS) {
    const input = h("input", { id: `f-${name}`, name, type: "text", autocomplete: "off" });
    input.value = query.get(name) ?? "";
    form.append(field(name, label, input));
  }
  const protocol = h("select", { id: "f-protocol", name: "protocol" });
  for (const p of PROTOCOLS) protocol.append(h("option", { value: p }, p || "any"));
  protocol.value = query.get("protocol") ?? "";
  const verdict = h("select", { id: "f-verdict", name: "verdict" }, h("option", { value: "" }, "any"), h("option", { value: "denied" }, "with a denial"), h("option", { value: "allowed" }, "nothing denied"));
  verdict.value = query.get("verdict") ?? "";
  const since = h("input", { id: "f-since", name: "since", type: "datetime-local" });
  since.value = localValue(query.get("since"));
  const until = h("input", { id: "f-until", name: "until", type: "datetime-local" });
  until.value = localValue(query.get("until"));
  const limit = h("input", { id: "f-limit", name: "limit", type: "number", min: 1, max: 10000 });
  limit.value = query.get("limit") ?? "100";
  form.append(
    field("protocol", "Protocol", protocol),
    field("verdict", "Verdict", verdict),
    field("since", "Since", since),
    field("until", "Until", until),
    field("limit", "Limit", limit),
    h("div", { class: "field buttons" }, h("button", { type: "submit" }, "Filter"), h("a", { href: "#/sessions", class: "button quiet" }, "Clear")),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [name] of TEXT_FILTERS) {
      const v = (form.elements.namedItem(name) as HTMLInputElement).value.trim();
      if (v) q.set(name, v);
    }
    if (protocol.value) q.set("protocol", protocol.value);
    if (verdict.value) q.set("verdict", verdict.value);
    const s = localInputMs(since.value);
    if (s !== null) q.set("since", String(s));
    const u = localInputMs(until.value);
    if (u !== null) q.set("until", String(u));
    if (limit.value && limit.value !== "100") q.set("limit", limit.value);
    const text = q.toString();
    location.hash = text ? `#/sessions?${text}` : "#/sessions";
  });
  return form;
}

function table(sessions: Session[]): HTMLElement {
  if (!sessions.length) return h("p", { class: "empty" }, "No sessions match.");
  const tbody = h("tbody");
  for (const s of sessions) {
    tbody.append(
      h(
        "tr",
        { class: s.denied > 0 ? "has-denied" : "" },
        h("td", {}, when(s.started_at_ms)),
        h("td", {}, h("a", { href: sessionHref(s.id) }, s.id)),
        h("td", {}, s.principal ?? "-"),
        h("td", {}, s.connection ?? "-"),
        h("td", {}, s.protocol ?? "-"),
        h("td", {}, s.run_id ? h("a", { href: runHref(s.run_id) }, s.run_id) : "-"),
        h("td", { class: "num" }, s.statements),
        h("td", { class: "num" }, s.denied),
        h("td", {}, s.ended_at_ms ? "ended" : "open"),
      ),
    );
  }
  const head = ["Started", "Session", "Principal", "Connection", "Protocol", "Run", "Statements", "Denied", "State"];
  return h("table", { class: "list" }, h("thead", {}, h("tr", {}, ...head.map((c) => h("th", { scope: "col" }, c)))), tbody);
}

export function sessionsPage(main: HTMLElement, query: URLSearchParams): void {
  const result = h("div", { "aria-live": "polite" }, "Loading…");
  main.append(h("h1", {}, "Sessions"), filterForm(query), result);
  const q = new URLSearchParams();
  for (const key of ["limit", "principal", "connection", "protocol", "run", "verdict", "since", "until"]) {
    const v = query.get(key);
    if (v) q.set(key, v);
  }
  if (!q.has("limit")) q.set("limit", "100");
  getJson<{ sessions: Session[] }>(`/api/v1/sessions?${q}`)
    .then((body) => replace(result, table(body.sessions ?? [])))
    .catch((e) => replace(result, errorBox(e instanceof ApiError ? e.message : String(e))));
}

// Ledger events as a timeline: what ran, what the guard decided (rule and reason), what masking
// did, how long it took, and what failed. Every text from the ledger goes through `visible`
// or textContent: statements and commands were written by agents.
import { fields, h } from "./dom";
import { count, micros, span, when } from "./format";
import { runHref, sessionHref } from "./router";
import { visible } from "./visible";

export type LedgerRow = {
  seq: number;
  at_ms: number;
  type: string;
  /** The whole event as hashed: `{at_ms, session, principal, run_id, body: {type, ...}}`. */
  body: { session?: string | null; principal?: string | null; run_id?: string | null; body?: Record<string, unknown> };
};

type Obj = Record<string, unknown>;

const str = (o: Obj, k: string): string => (typeof o[k] === "string" ? (o[k] as string) : "");
const num = (o: Obj, k: string): number | null => (typeof o[k] === "number" ? (o[k] as number) : null);
const list = (o: Obj, k: string): string[] => (Array.isArray(o[k]) ? (o[k] as unknown[]).map(String) : []);

function verdictBadge(verdict: string): HTMLElement {
  return h("span", { class: `badge verdict-${verdict}` }, verdict);
}

function masking(m: unknown): HTMLElement | null {
  if (!m || typeof m !== "object") return null;
  const o = m as Obj;
  const parts: string[] = [];
  const cols = list(o, "columns");
  if (cols.length) parts.push(`columns ${cols.join("; ")}`);
  const values = num(o, "column_values");
  if (values) parts.push(`${values} value${values === 1 ? "" : "s"} masked`);
  const hits = o.detector_hits && typeof o.detector_hits === "object" ? (o.detector_hits as Obj) : {};
  const named = Object.entries(hits).map(([k, v]) => `${k} ×${String(v)}`);
  if (named.length) parts.push(`detectors ${named.join(", ")}`);
  return parts.length ? h("span", { class: "masking" }, `masked: ${parts.join(" · ")}`) : null;
}

/** The event's own description. */
export function describe(type: string, b: Obj): Node {
  switch (type) {
    case "statement": {
      const d = (b.decision ?? {}) as Obj;
      return h(
        "div",
        {},
        h("div", { class: "decision" }, verdictBadge(str(d, "verdict") || "?"), " rule ", h("code", {}, str(d, "rule")), d.reason ? h("span", { class: "reason" }, " — ", visible(str(d, "reason"), "span")) : null),
        visible(str(b, "text")),
        fields([
          ["Kind", str(b, "kind")],
          ["Reads", list(b, "tables_read").join(", ")],
          ["Writes", list(b, "tables_written").join(", ")],
        ]),
      );
    }
    case "statement_done": {
      const seq = num(b, "statement_seq");
      const us = num(b, "duration_us") ?? 0;
      const tag = str(b, "tag");
      const err = str(b, "error_code");
      return h(
        "div",
        {},
        seq !== null ? `statement #${seq} done` : "done",
        ` in ${micros(us)}`,
        tag ? h("span", {}, " · ", visible(tag, "span")) : null,
        err ? h("span", { class: "failed" }, ` · error ${err}`) : null,
        h("div", {}, masking(b.masking)),
      );
    }
    case "session_start": {
      const p = (b.principal ?? {}) as Obj;
      return h(
        "div",
        {},
        `${str(p, "name")} (${str(p, "kind")}) opened ${str(b, "connection")} over ${str(b, "protocol")} from ${str(b, "client_addr")}`,
        fields([
          ["Groups", list(p, "groups").join(", ")],
          ["Issuer", str(p, "issuer")],
          ["Run", p.run_id ? h("a", { href: runHref(str(p, "run_id")) }, str(p, "run_id")) : null],
        ]),
      );
    }
    case "session_end":
      return h("div", {}, `${count(num(b, "statements") ?? 0, "statement")} in ${span(num(b, "duration_ms") ?? 0)}`);
    case "auth_failure":
      return h("div", { class: "failed" }, `${str(b, "protocol")} ${str(b, "connection")} from ${str(b, "client_addr")}: `, visible(str(b, "reason"), "span"));
    case "error":
      return h("div", { class: "failed" }, visible(str(b, "message")));
    case "approval_requested":
      return h(
        "div",
        {},
        `request ${str(b, "id")}: rule ${str(b, "rule")}, reviewers ${list(b, "reviewers").join(", ")}`,
        visible(str(b, "statement")),
      );
    case "approval_decided":
      return h(
        "div",
        {},
        `request ${str(b, "id")} `,
        verdictBadge(str(b, "status")),
        b.reviewer ? ` by ${str(b, "reviewer")}` : "",
        b.reason ? h("span", {}, ": ", visible(str(b, "reason"), "span")) : null,
      );
    case "grant_created":
      return h("div", {}, `window ${str(b, "id")} for ${str(b, "principal")} on ${str(b, "connection")} (rule ${str(b, "rule")}) until ${when(num(b, "expires_at_ms"))}, by ${str(b, "granted_by")}`);
    case "grant_revoked":
      return h("div", {}, `window ${str(b, "id")} revoked by ${str(b, "by")}`);
    default:
      return h("pre", { class: "json" }, JSON.stringify(b, null, 2));
  }
}

/** The run ids the events carry (session starts name it too). */
export function runIds(rows: LedgerRow[]): string[] {
  const ids = new Set<string>();
  for (const r of rows) {
    if (r.body?.run_id) ids.add(r.body.run_id);
    const p = (r.body?.body?.principal ?? null) as Obj | null;
    if (p && typeof p === "object" && typeof p.run_id === "string") ids.add(p.run_id);
  }
  return [...ids];
}

/** A timeline; `withSession` adds each event's session (a run spans several). */
export function timeline(rows: LedgerRow[], withSession = false): HTMLElement {
  const ol = h("ol", { class: "timeline" });
  for (const r of rows) {
    const inner = (r.body?.body ?? {}) as Obj;
    const session = r.body?.session;
    ol.append(
      h(
        "li",
        { id: `seq-${r.seq}`, class: `event type-${r.type}` },
        h(
          "div",
          { class: "meta" },
          h("span", { class: "seq" }, `#${r.seq}`),
          h("time", {}, when(r.at_ms)),
          h("span", { class: "type" }, r.type.replace(/_/g, " ")),
          withSession && session ? h("a", { href: sessionHref(session), class: "session" }, session) : null,
        ),
        describe(r.type, inner),
      ),
    );
  }
  return ol;
}

// An agent run across its sessions: every event of every session of the run, in ledger order.
import { ApiError, enc, getJson } from "../api";
import { errorBox, h, replace } from "../dom";
import { type LedgerRow, timeline } from "../events";
import { count, when } from "../format";
import { sessionHref } from "../router";

type RunBody = {
  run: string;
  sessions: { id: string; principal?: string | null; connection?: string | null; protocol?: string | null; started_at_ms?: number | null; statements: number; denied: number }[];
  events: LedgerRow[];
};

export function runPage(main: HTMLElement, id: string): void {
  const sessions = h("div", {});
  const body = h("div", { "aria-live": "polite" }, "Loading…");
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/sessions" }, "Sessions"), " / run ", id),
    h("h1", {}, "Agent run ", h("code", {}, id)),
    h("div", { class: "toolbar" }, h("a", { class: "button", href: `/api/v1/runs/${enc(id)}/export`, download: `run-${id}.jsonl` }, "Export run (JSON lines)")),
    h("h2", {}, "Sessions"),
    sessions,
    h("h2", {}, "Timeline"),
    body,
  );
  getJson<RunBody>(`/api/v1/sessions?run=${enc(id)}&limit=1000`)
    .then((r) => {
      const list = h("ul", { class: "plain" });
      for (const s of r.sessions ?? []) {
        list.append(
          h("li", {}, h("a", { href: sessionHref(s.id) }, s.id), ` ${s.principal ?? "-"} on ${s.connection ?? "-"} (${s.protocol ?? "-"}), ${when(s.started_at_ms)}, ${count(s.statements, "statement")}, ${s.denied} denied`),
        );
      }
      replace(sessions, (r.sessions ?? []).length ? list : h("p", { class: "empty" }, "No sessions."));
      replace(body, (r.events ?? []).length ? timeline(r.events, true) : h("p", { class: "empty" }, "No events."));
    })
    .catch((e) => replace(body, errorBox(e instanceof ApiError ? e.message : String(e))));
}

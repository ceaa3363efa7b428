// One session's timeline: its statements or commands, the decisions with rule and reason,
// masking summaries, timings and errors; the agent run it belongs to; its export; and, for SSH,
// its channel recordings.
import { ApiError, enc, getJson } from "../api";
import { errorBox, fields, h, replace } from "../dom";
import { type LedgerRow, runIds, timeline } from "../events";
import { when } from "../format";
import { runHref } from "../router";
import { recordings } from "../replay";

export function sessionPage(main: HTMLElement, id: string): () => void {
  const summary = h("div", { class: "summary" });
  const body = h("div", { "aria-live": "polite" }, "Loading…");
  const replay = h("section", { class: "recordings" });
  const exportHref = `/api/v1/sessions/${enc(id)}/export`;
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/sessions" }, "Sessions"), " / ", id),
    h("h1", {}, "Session ", h("code", {}, id)),
    h("div", { class: "toolbar" }, h("a", { class: "button", href: exportHref, download: `session-${id}.jsonl` }, "Export session (JSON lines)")),
    summary,
    replay,
    h("h2", {}, "Timeline"),
    body,
  );
  getJson<{ id: string; events: LedgerRow[] }>(`/api/v1/sessions/${enc(id)}`)
    .then((s) => {
      const events = s.events ?? [];
      const start = events.find((e) => e.type === "session_start");
      const end = events.find((e) => e.type === "session_end");
      const b = (start?.body?.body ?? {}) as Record<string, unknown>;
      const runs = runIds(events);
      replace(
        summary,
        fields([
          ["Principal", start?.body?.principal ?? null],
          ["Connection", typeof b.connection === "string" ? b.connection : null],
          ["Protocol", typeof b.protocol === "string" ? b.protocol : null],
          ["Started", start ? when(start.at_ms) : null],
          ["Ended", end ? when(end.at_ms) : "open"],
          ["Events", String(events.length)],
          ["Agent run", runs.length ? h("span", {}, ...runs.flatMap((r, i) => [i ? ", " : "", h("a", { href: runHref(r) }, r)])) : null],
        ]),
      );
      replace(body, events.length ? timeline(events) : h("p", { class: "empty" }, "No events."));
    })
    .catch((e) => replace(body, errorBox(e instanceof ApiError ? e.message : String(e))));
  return recordings(replay, id);
}

// The ledger's verification status: does the hash chain hold, how far do signed checkpoints go,
// and, when it does not verify, the first event that fails and why.
import { ApiError, getJson } from "../api";
import { errorBox, fields, h, replace } from "../dom";
import { when } from "../format";
import { visible } from "../visible";

/** `/api/v1/audit`: `first_bad` names the first failing event (`problem` is read too). */
type Audit = {
  ok: boolean;
  events: number;
  checkpoints: number;
  head_seq?: number | null;
  first_bad?: { seq: number; problem: string } | null;
  problem?: string | null;
  last_checkpoint?: Record<string, unknown> | null;
  verified_at_ms?: number;
};

function checkpoint(c: Record<string, unknown>): Node {
  return fields(
    Object.entries(c).map(([k, v]) => [k, k.endsWith("_ms") && typeof v === "number" ? when(v) : typeof v === "string" ? h("code", {}, v) : JSON.stringify(v)]),
  );
}

function problemOf(a: Audit): string | null {
  if (a.first_bad) return `event #${a.first_bad.seq}: ${a.first_bad.problem}`;
  return a.problem ?? null;
}

export function auditPage(main: HTMLElement): void {
  const body = h("div", { "aria-live": "polite" }, "Verifying…");
  const again = h("button", { type: "button" }, "Verify again");
  main.append(h("h1", {}, "Audit"), h("p", { class: "hint" }, "The gateway recomputes the ledger's hash chain and checks its signed checkpoints."), body, again);
  const load = () => {
    again.disabled = true;
    getJson<Audit>("/api/v1/audit")
      .then((a) => {
        const problem = problemOf(a);
        replace(
          body,
          h("p", { class: a.ok ? "verdict ok" : "verdict bad", role: "status" }, a.ok ? "The ledger verifies." : "The ledger does NOT verify."),
          problem ? h("div", { class: "error", role: "alert" }, "First problem: ", visible(problem, "span")) : null,
          fields([
            ["Events checked", String(a.events)],
            ["Signed checkpoints", String(a.checkpoints)],
            ["Signed head", a.head_seq === undefined ? null : a.head_seq === null ? "none yet" : `#${a.head_seq}`],
            ["Last checkpoint", a.last_checkpoint ? checkpoint(a.last_checkpoint) : null],
            ["Verified at", a.verified_at_ms ? when(a.verified_at_ms) : null],
          ]),
        );
      })
      .catch((e) => replace(body, errorBox(e instanceof ApiError ? e.message : String(e))))
      .finally(() => (again.disabled = false));
  };
  again.addEventListener("click", load);
  load();
}

// The ledger's verification status: does the hash chain hold, how far do signed checkpoints go.
import { ApiError, getJson } from "../api";
import { errorBox, fields, h, replace } from "../dom";
import { when } from "../format";
import { visible } from "../visible";

type Audit = {
  ok: boolean;
  events: number;
  checkpoints: number;
  last_checkpoint: Record<string, unknown> | null;
  problem: string | null;
};

function checkpoint(c: Record<string, unknown> | null): Node {
  if (!c) return h("span", {}, "none yet");
  const dl = fields(
    Object.entries(c).map(([k, v]) => [k, k.endsWith("_ms") && typeof v === "number" ? when(v) : typeof v === "string" ? h("code", {}, v) : JSON.stringify(v)]),
  );
  return dl;
}

export function auditPage(main: HTMLElement): void {
  const body = h("div", { "aria-live": "polite" }, "Verifying…");
  const again = h("button", { type: "button" }, "Verify again");
  main.append(h("h1", {}, "Audit"), h("p", { class: "hint" }, "The gateway recomputes the ledger's hash chain and checks its signed checkpoints."), body, again);
  const load = () => {
    again.disabled = true;
    getJson<Audit>("/api/v1/audit")
      .then((a) => {
        replace(
          body,
          h("p", { class: a.ok ? "verdict ok" : "verdict bad", role: "status" }, a.ok ? "The ledger verifies." : "The ledger does NOT verify."),
          a.problem ? h("div", { class: "error", role: "alert" }, visible(a.problem)) : null,
          fields([
            ["Events", String(a.events)],
            ["Checkpoints", String(a.checkpoints)],
            ["Last checkpoint", checkpoint(a.last_checkpoint)],
          ]),
        );
      })
      .catch((e) => replace(body, errorBox(e instanceof ApiError ? e.message : String(e))))
      .finally(() => (again.disabled = false));
  };
  again.addEventListener("click", load);
  load();
}

// One request as a card: what would run, who asked, why it is held, and, for its reviewers,
// "Approve" (optionally opening a grant window) and "Deny" (with a reason).
import { ApiError, enc, post } from "../api";
import { type Approval, parameters, paramsText, previewText } from "../approval";
import { errorBox, fields, h, replace } from "../dom";
import { span, when } from "../format";
import { runHref, sessionHref } from "../router";
import { visible } from "../visible";

/** What the reviewer had typed, carried over when a card is rebuilt. */
export type Draft = { grant: string; denyOpen: boolean; reason: string };

export type Card = { el: HTMLElement; tick: (now: number) => void; draft: () => Draft };

function domId(id: string, what: string): string {
  return `${what}-${id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

export function card(a: Approval, draft: Draft | null, refresh: () => void): Card {
  const pending = a.status === "pending";
  const age = h("span", { class: "age" });
  const left = h("span", { class: "left" });
  const tick = (now: number) => {
    age.textContent = `${span(now - a.created_at_ms)} ago`;
    if (pending) {
      const ms = a.expires_at_ms - now;
      left.textContent = ms > 0 ? `${span(ms)} left` : "expiring";
      left.classList.toggle("urgent", ms < 60_000);
    }
  };
  const preview = previewText(a.preview);
  const link = (href: string, text: string) => h("a", { href }, text);
  const el = h(
    "article",
    { class: `card status-${a.status}`, "data-id": a.id, "aria-label": `Request ${a.id}` },
    h(
      "header",
      {},
      h("span", { class: `badge ${a.status}` }, a.status),
      h("h3", {}, `${a.kind || "operation"} on ${a.connection}`),
      age,
      pending ? left : null,
    ),
    visible(a.statement),
    fields([
      ["Principal", `${a.principal} (${a.principal_kind})`],
      ["Session", a.session ? link(sessionHref(a.session), a.session) : null],
      ["Run", a.run_id ? link(runHref(a.run_id), a.run_id) : null],
      ["Connection", a.connection],
      ["Rule", a.rule],
      ["Reason", a.reason ? visible(a.reason, "span") : null],
      ["Reviewers", a.reviewers.join(", ")],
      ["Tables written", (a.tables_written ?? []).join(", ")],
      ["Parameters", parameterList(a)],
      ["Preview", preview === null ? null : preview.includes("\n") ? h("pre", { class: "json" }, preview) : preview],
      ["Requested", when(a.created_at_ms)],
      ["Expires", pending ? when(a.expires_at_ms) : null],
      ["Decided by", a.decided_by ? `${a.decided_by} at ${when(a.decided_at_ms)}` : null],
      ["Decision reason", a.decision_reason ? visible(a.decision_reason, "span") : null],
      ["Request id", h("code", {}, a.id)],
    ]),
  );
  tick(Date.now());
  let current: () => Draft = () => ({ grant: "", denyOpen: false, reason: "" });
  if (pending && a.can_decide) {
    const actions = decide(a, draft, refresh);
    el.append(actions.el);
    current = actions.draft;
  }
  return { el, tick, draft: () => current() };
}

function decide(a: Approval, draft: Draft | null, refresh: () => void): { el: HTMLElement; draft: () => Draft } {
  const grantId = domId(a.id, "grant");
  const reasonId = domId(a.id, "reason");
  const grant = h("input", { id: grantId, type: "text", placeholder: "optional, e.g. 30m", size: 14, autocomplete: "off" });
  grant.value = draft?.grant ?? "";
  const approve = h("button", { type: "button", class: "approve" }, "Approve");
  const deny = h("button", { type: "button", class: "deny" }, "Deny");
  const reason = h("textarea", { id: reasonId, rows: 2, maxlength: 2000 });
  reason.value = draft?.reason ?? "";
  const confirm = h("button", { type: "button", class: "deny" }, "Confirm deny");
  const cancel = h("button", { type: "button", class: "quiet" }, "Cancel");
  const denyForm = h(
    "div",
    { class: "deny-form" },
    h("label", { for: reasonId }, "Reason"),
    reason,
    h("div", { class: "row" }, confirm, cancel),
  );
  const problem = h("div", { class: "problem" });
  const el = h(
    "div",
    { class: "actions" },
    h("div", { class: "row" }, h("label", { for: grantId }, "Grant window"), grant, approve, deny),
    denyForm,
    problem,
  );
  const setDenyOpen = (open: boolean) => {
    denyForm.hidden = !open;
    deny.hidden = open;
  };
  setDenyOpen(draft?.denyOpen ?? false);

  const buttons = [approve, deny, confirm, cancel];
  const run = async (action: "approve" | "deny", body: Record<string, string>) => {
    replace(problem);
    buttons.forEach((b) => (b.disabled = true));
    try {
      await post(`/api/v1/approvals/${enc(a.id)}/${action}`, body);
      refresh();
    } catch (e) {
      problem.append(errorBox(e instanceof ApiError ? e.message : String(e)));
      buttons.forEach((b) => (b.disabled = false));
    }
  };
  approve.addEventListener("click", () => {
    const window = grant.value.trim();
    void run("approve", window ? { for: window } : {});
  });
  deny.addEventListener("click", () => {
    setDenyOpen(true);
    reason.focus();
  });
  cancel.addEventListener("click", () => setDenyOpen(false));
  reason.addEventListener("input", () => replace(problem));
  confirm.addEventListener("click", () => {
    const text = reason.value.trim();
    if (!text) {
      replace(problem, errorBox("Give a reason: the requester sees it."));
      reason.focus();
      return;
    }
    void run("deny", { reason: text });
  });
  return { el, draft: () => ({ grant: grant.value, denyOpen: !denyForm.hidden, reason: reason.value }) };
}

/** The values the approval is bound to, numbered, each with its control characters visible;
 * the hash alone when the server could not read them. */
function parameterList(a: Approval): HTMLElement {
  const values = parameters(a.preview);
  if (values === null || values.length === 0) {
    return h("span", { title: a.params_sha256 }, paramsText(a.params_sha256));
  }
  return h(
    "ol",
    { class: "params", title: a.params_sha256 },
    ...values.map((v) => h("li", {}, v === null ? h("em", {}, "NULL") : visible(v, "code"))),
  );
}

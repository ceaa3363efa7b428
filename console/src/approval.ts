// One approval request as `/api/v1/approvals` returns it, and how a reviewer reads its parts.

export type Approval = {
  id: string;
  status: "pending" | "approved" | "denied" | "expired" | "withdrawn" | "used" | string;
  created_at_ms: number;
  expires_at_ms: number;
  principal: string;
  principal_kind: string;
  session?: string | null;
  run_id?: string | null;
  connection: string;
  rule: string;
  reason: string;
  reviewers: string[];
  mode: string;
  statement: string;
  params_sha256: string;
  kind?: string;
  tables_written?: string[];
  preview?: unknown;
  decided_at_ms?: number | null;
  decided_by?: string | null;
  decision_reason?: string | null;
  usable_until_ms?: number | null;
  used_at_ms?: number | null;
  grant_id?: string | null;
  /** Added by the server: the caller may approve or deny it now. */
  can_decide?: boolean;
};

/** SHA-256 of no bytes: a simple query has no parameters. */
const NO_PARAMS = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

export function paramsText(sha: string): string {
  if (!sha || sha === NO_PARAMS) return "none";
  return `sha256 ${sha.slice(0, 16)}…`;
}

/** The held statement's parameter values, when the server could read them (`preview.parameters`). */
export function parameters(preview: unknown): (string | null)[] | null {
  if (typeof preview !== "object" || preview === null || Array.isArray(preview)) return null;
  const list = (preview as Record<string, unknown>).parameters;
  if (!Array.isArray(list)) return null;
  return list.map((v) => (typeof v === "string" ? v : null));
}

/** The preview in one line when it is EXPLAIN's estimate, else pretty JSON (without the parameters, shown apart). */
export function previewText(preview: unknown): string | null {
  if (preview === undefined || preview === null) return null;
  if (typeof preview === "object" && !Array.isArray(preview)) {
    const { parameters: _shown, ...rest } = preview as Record<string, unknown>;
    preview = rest;
    const p = rest;
    if (typeof p.estimated_rows === "number") {
      const node = typeof p.plan_node === "string" ? ` (${p.plan_node})` : "";
      return `about ${p.estimated_rows} row${p.estimated_rows === 1 ? "" : "s"}${node}, estimated by EXPLAIN`;
    }
    if (typeof p.error === "string" && Object.keys(p).length === 1) return `no estimate: ${p.error}`;
  }
  return JSON.stringify(preview, null, 2);
}

/** Pending first (oldest first: they expire soonest), then the rest, newest first. */
export function ordered(list: Approval[]): Approval[] {
  const pending = list.filter((a) => a.status === "pending").sort((a, b) => a.created_at_ms - b.created_at_ms);
  const rest = list.filter((a) => a.status !== "pending").sort((a, b) => b.created_at_ms - a.created_at_ms);
  return [...pending, ...rest];
}

/** What can change a card's content (everything but the clock). */
export function signature(a: Approval): string {
  return JSON.stringify(a);
}

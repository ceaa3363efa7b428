// Hash routes: #/approvals, #/sessions, #/sessions/<id>, #/runs/<run id>, #/audit.

export type Route =
  | { page: "approvals" }
  | { page: "sessions"; query: URLSearchParams }
  | { page: "session"; id: string }
  | { page: "run"; id: string }
  | { page: "audit" };

export function parse(hash: string): Route {
  const raw = hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?", 2) as [string, string?];
  const parts = path.split("/").map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts[0] === "sessions" && parts[1]) return { page: "session", id: parts[1] };
  if (parts[0] === "sessions") return { page: "sessions", query: new URLSearchParams(query) };
  if (parts[0] === "runs" && parts[1]) return { page: "run", id: parts[1] };
  if (parts[0] === "audit") return { page: "audit" };
  return { page: "approvals" };
}

export function sessionHref(id: string): string {
  return `#/sessions/${encodeURIComponent(id)}`;
}

export function runHref(id: string): string {
  return `#/runs/${encodeURIComponent(id)}`;
}

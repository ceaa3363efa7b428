// Every call the console makes: same-origin fetches with the session cookie, and the session's
// CSRF token in `X-CSRF-Token` on every state change. The token lives only in this module's
// memory (never in storage): a reload asks `/console/api/me` for it again.

export type Me = {
  name: string;
  kind: string;
  groups: string[];
  admin: boolean;
  run_id?: string | null;
  csrf?: string;
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrf: string | null = null;

export function setCsrf(token: string | null): void {
  csrf = token;
}

/** Called when any API answer says the session is gone (401), so the app can show sign-in. */
let onSignedOut: () => void = () => {};
export function whenSignedOut(f: () => void): void {
  onSignedOut = f;
}

async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body = await res.json();
    if (body && typeof body.error === "string") message = body.error;
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(res.status, message);
}

async function call(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    cache: "no-store",
    redirect: "error",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 && path.startsWith("/api/")) {
    onSignedOut();
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await call("GET", path)).json()) as T;
}

export async function getText(path: string): Promise<string> {
  return (await call("GET", path)).text();
}

export async function post<T>(path: string, body?: unknown): Promise<T | null> {
  const res = await call("POST", path, body);
  const text = await res.text();
  return text ? (JSON.parse(text) as T) : null;
}

/** Who is signed in, or null (401). Keeps the CSRF token it carries. */
export async function me(): Promise<Me | null> {
  try {
    const m = await getJson<Me>("/console/api/me");
    if (m.csrf) setCsrf(m.csrf);
    return m;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export async function login(token: string): Promise<Me> {
  const answer = await post<{ csrf: string; me: Me }>("/console/api/login", { token });
  if (!answer) throw new ApiError(500, "the sign-in answer was empty");
  setCsrf(answer.csrf);
  return answer.me;
}

export async function logout(): Promise<void> {
  try {
    await post("/console/api/logout");
  } finally {
    setCsrf(null);
  }
}

export async function ssoEnabled(): Promise<boolean> {
  try {
    const c = await getJson<{ sso?: boolean }>("/console/api/config");
    return c.sso === true;
  } catch {
    return false;
  }
}

/** `encodeURIComponent` for a path segment or query value. */
export const enc = encodeURIComponent;

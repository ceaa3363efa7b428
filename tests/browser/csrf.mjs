// A signed-in browser whose cookie rides along on a forged state change: without the
// X-CSRF-Token header the gateway refuses it (403), from Playwright's request context and from
// script in the page alike. Env: BASE, TOKEN, APPROVAL (a pending request id).
import { env, run, signIn } from "./lib.mjs";

await run(async ({ page }) => {
  const base = env("BASE");
  await signIn(page, base, env("TOKEN"));
  const path = `/api/v1/approvals/${encodeURIComponent(env("APPROVAL"))}/approve`;
  const forged = await page.request.post(`${base}${path}`, { data: {}, headers: { "Content-Type": "application/json" } });
  const fromPage = await page.evaluate(async (p) => {
    const r = await fetch(p, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    return { status: r.status, body: await r.text() };
  }, path);
  const wrong = await page.evaluate(async (p) => {
    const r = await fetch(p, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": "not-the-token" }, body: "{}" });
    return r.status;
  }, path);
  const logout = await page.evaluate(async () => (await fetch("/console/api/logout", { method: "POST" })).status);
  const still = await page.evaluate(async () => (await fetch("/console/api/me")).status);
  return { forged: forged.status(), forged_body: await forged.text(), from_page: fromPage, wrong_token: wrong, logout_without_token: logout, me_after: still };
});

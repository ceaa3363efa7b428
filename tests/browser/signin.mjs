// Token sign-in and sign-out, a refused token, and (when SSO=1) "Sign in with SSO" through the
// loopback OIDC issuer. Env: BASE, TOKEN, [SSO=1].
import { env, run, shot, signIn } from "./lib.mjs";

await run(async ({ page }) => {
  const base = env("BASE");
  const out = {};

  // A wrong token is refused with the API's reason, on the sign-in page.
  await page.goto(`${base}/`);
  await page.getByLabel("Token").fill("vgl_not-a-token");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  out.refused = await page.getByRole("alert").first().textContent();

  await signIn(page, base, env("TOKEN"));
  out.who = await page.locator("header .who").textContent();
  out.nav = await page.getByRole("navigation").getByRole("link").allTextContents();
  out.cookie_http_only = (await page.context().cookies()).map((c) => [c.name, c.httpOnly, c.sameSite]);
  out.cookie_visible_to_script = await page.evaluate(() => document.cookie);
  await shot(page, "signed-in");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Token").waitFor();
  // After sign-out the API refuses the old cookie.
  out.after_logout = await page.evaluate(async () => (await fetch("/console/api/me")).status);

  if (process.env.SSO === "1") {
    await page.getByRole("link", { name: "Sign in with SSO" }).click();
    await page.getByRole("link", { name: "Approvals", exact: true }).waitFor();
    out.sso_who = await page.locator("header .who").textContent();
    await shot(page, "signed-in-sso");
  } else {
    // A fresh load: once the gateway has said whether SSO is on, the page is complete.
    const config = page.waitForResponse((r) => r.url().endsWith("/console/api/config"));
    await page.reload();
    await config;
    await page.waitForTimeout(200);
    out.sso_link = await page.getByRole("link", { name: "Sign in with SSO" }).count();
  }
  return out;
});

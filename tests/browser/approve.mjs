// A reviewer finds the held statement in the live queue, reads it, and approves it (with a
// grant window when WINDOW is set). Env: BASE, TOKEN, STATEMENT, [WINDOW].
import { cardOf, env, run, shot, signIn } from "./lib.mjs";

await run(async ({ page }) => {
  const base = env("BASE");
  await signIn(page, base, env("TOKEN"));
  await page.getByRole("link", { name: "Approvals", exact: true }).click();
  // The queue polls: the request shows up without a reload.
  const card = cardOf(page, env("STATEMENT"));
  await card.waitFor();
  const out = {
    card: await card.innerText(),
    status: await card.locator(".badge").first().textContent(),
  };
  // Wait for the EXPLAIN preview if one comes, for the screenshot.
  await card.getByText("estimated by EXPLAIN").waitFor({ timeout: 5000 }).catch(() => {});
  await shot(page, "approvals-queue");
  if (process.env.WINDOW) await card.getByLabel("Grant window").fill(process.env.WINDOW);
  await card.getByRole("button", { name: "Approve" }).click();
  // Decided: it leaves the pending list.
  const decided = page.locator(`article.card[data-id="${await card.getAttribute("data-id")}"]`);
  await decided.locator(".badge", { hasNotText: "pending" }).waitFor();
  out.after = await decided.locator(".badge").first().textContent();
  await shot(page, "approvals-approved");
  return out;
});

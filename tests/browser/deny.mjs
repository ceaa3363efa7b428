// A reviewer denies the held statement with a reason. Env: BASE, TOKEN, STATEMENT, REASON.
import { cardOf, env, run, shot, signIn } from "./lib.mjs";

await run(async ({ page }) => {
  const base = env("BASE");
  await signIn(page, base, env("TOKEN"));
  const card = cardOf(page, env("STATEMENT"));
  await card.waitFor();
  const id = await card.getAttribute("data-id");
  await card.getByRole("button", { name: "Deny" }).click();
  // An empty reason is not sent.
  await card.getByRole("button", { name: "Confirm deny" }).click();
  const empty = await card.getByRole("alert").textContent();
  // The queue refreshes meanwhile; what was typed stays.
  await card.getByLabel("Reason").fill(env("REASON"));
  await page.waitForTimeout(2500);
  const kept = await card.getByLabel("Reason").inputValue();
  await shot(page, "approvals-deny");
  await card.getByRole("button", { name: "Confirm deny" }).click();
  const decided = page.locator(`article.card[data-id="${id}"]`);
  await decided.locator(".badge", { hasText: "denied" }).waitFor();
  return { id, empty, kept, after: await decided.innerText() };
});

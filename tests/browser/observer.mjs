// Someone who is not among the rule's reviewers sees the request but gets no buttons.
// Env: BASE, TOKEN, STATEMENT.
import { cardOf, env, run, shot, signIn } from "./lib.mjs";

await run(async ({ page }) => {
  await signIn(page, env("BASE"), env("TOKEN"));
  const card = cardOf(page, env("STATEMENT"));
  await card.waitFor();
  await page.waitForTimeout(2500); // one more poll: still no buttons
  await shot(page, "approvals-observer");
  return {
    card: await card.innerText(),
    approve_buttons: await card.getByRole("button", { name: "Approve" }).count(),
    deny_buttons: await card.getByRole("button", { name: "Deny" }).count(),
    all_buttons: await page.locator("main").getByRole("button").count(),
  };
});
